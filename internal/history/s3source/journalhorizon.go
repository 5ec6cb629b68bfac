package s3source

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/journal"
)

var _ history.JournalHorizoner = (*Source)(nil)

// JournalHorizon reads folder's journal descriptor (kept for the read that
// follows, so it costs no request more than the lifecycle read it
// replaces) and gives the journal's horizon: what its retention kept
// (docs/DESIGN.md §10.11). A folder without a journal, or a descriptor
// that cannot be read, is left to the lifecycle rules (the read reports
// the error).
func (s *Source) JournalHorizon(ctx context.Context, folder string, now time.Time) (*history.Horizon, bool, error) {
	dir := strings.TrimSuffix(folder, "/") + "/"
	d, err := journal.ReadDescriptor(ctx, s.Journal(), dir)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		if errors.Is(err, journal.ErrNoJournal) {
			s.js.mu.Lock()
			if s.js.absent == nil {
				s.js.absent = map[string]bool{}
			}
			s.js.absent[dir] = true
			s.js.mu.Unlock()
		}
		return nil, false, nil
	}
	s.js.mu.Lock()
	if s.js.descs == nil {
		s.js.descs = map[string]*journal.Descriptor{}
	}
	s.js.descs[dir] = d
	s.js.mu.Unlock()
	return journal.Horizon(d, s.bucket, folder, now), true, nil
}

// cachedDescriptor is dir's descriptor if JournalHorizon read it.
func (s *Source) cachedDescriptor(dir string) *journal.Descriptor {
	s.js.mu.Lock()
	defer s.js.mu.Unlock()
	return s.js.descs[dir]
}
