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

// JournalHorizon lists folder's journal (its descriptor and outputs, kept
// for the read that follows, so the check costs no request more than the
// lifecycle read it replaces) and gives the journal's horizon: what its
// retention kept (docs/DESIGN.md §10.11, §10.13). A folder without a
// journal, or one that cannot be listed, is left to the lifecycle rules
// (the read reports the error).
func (s *Source) JournalHorizon(ctx context.Context, folder string, now time.Time) (*history.Horizon, bool, error) {
	dir := strings.TrimSuffix(folder, "/") + "/"
	st, err := journal.LoadState(ctx, s.Journal(), dir)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		if errors.Is(err, journal.ErrNoJournal) {
			s.markAbsent(dir)
		}
		return nil, false, nil
	}
	s.keepState(dir, st)
	return st.Horizon(s.bucket, folder, now), true, nil
}

// listedState is dir's journal as JournalHorizon listed it, once: a later
// read (a second command on the same Source) lists it again.
func (s *Source) listedState(dir string) *journal.State {
	s.js.mu.Lock()
	defer s.js.mu.Unlock()
	st := s.js.states[dir]
	delete(s.js.states, dir)
	return st
}
