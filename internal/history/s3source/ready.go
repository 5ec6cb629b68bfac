package s3source

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/journal"
)

var _ history.ReadySource = (*Source)(nil)

// ReadyFiles gives a journal's base at t as its export files, when the
// read at t is that base alone (docs/DESIGN.md §10.6). The state it lists
// (or that there is no journal) is kept for the read that follows when
// there are none.
func (s *Source) ReadyFiles(ctx context.Context, dir string, t time.Time) (*history.Ready, error) {
	s.js.mu.Lock()
	absent, st := s.js.absent[dir], s.js.states[dir]
	s.js.mu.Unlock()
	if absent {
		return nil, nil
	}
	reads := int64(0)
	if st == nil {
		var err error
		st, err = journal.LoadState(ctx, s.Journal(), dir)
		if errors.Is(err, journal.ErrNoJournal) {
			s.markAbsent(dir) // the walk lists versions without asking again
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		reads += 2 // the descriptor and the outputs' listing
		s.keepState(dir, st)
	}
	if !st.ItemsWindow().IsZero() {
		return nil, nil // an import's window is open: item versions count too
	}
	rb, err := st.ReadyAt(ctx, s.Journal(), t)
	if err != nil || rb == nil {
		return nil, err
	}
	r := &history.Ready{From: "s3://" + s.bucket + "/" + rb.Folder, Reads: reads + 1}
	for _, p := range rb.Parts {
		e := p.Export
		md5, err1 := base64.StdEncoding.DecodeString(e.DataMD5)
		sha, err2 := hex.DecodeString(e.SidecarSHA256)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("%smanifest.json: part %s: export digests: %w", r.From, p.Name, err)
		}
		r.Files = append(r.Files, history.ReadyFile{Data: rb.Folder + e.Data, Sidecar: rb.Folder + e.Sidecar, DataBytes: e.DataBytes, SidecarBytes: e.SidecarBytes,
			DataMD5: md5, SidecarSHA256: sha, Items: e.Items, BilledBytes: e.BilledBytes, FirstKey: dir + p.FirstID, LastKey: dir + p.LastID})
	}
	return r, nil
}

// OpenReady reads one of the files ReadyFiles gave.
func (s *Source) OpenReady(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.Journal().Get(ctx, key)
}
