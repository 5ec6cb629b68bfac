package s3source

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/journal"
)

var _ history.Merger = (*Source)(nil)

// journalState is what a Source knows of the journals in its bucket.
type journalState struct {
	mu     sync.Mutex
	absent map[string]bool           // table folders found to hold no journal
	states map[string]*journal.State // journals listed by JournalHorizon, for the read after it
	skew   time.Duration
	set    bool // skew was given (0 included); else history's default
	wait   func(until time.Time)
	stored bool // journal.Reader.Stored
}

// SetJournalWait sets the clock skew a journal read allows and what it
// tells before it waits out the journal's lag (docs/DESIGN.md §10.4).
func (s *Source) SetJournalWait(skew time.Duration, wait func(until time.Time)) {
	s.js.mu.Lock()
	defer s.js.mu.Unlock()
	s.js.skew, s.js.set, s.js.wait = skew, true, wait
}

// ReadJournalStored has journal reads take what is stored now instead of
// waiting out the journal's lag (journal.Reader.Stored): for a caller
// that reads again, after the lag, whatever it finds wrong.
func (s *Source) ReadJournalStored() {
	s.js.mu.Lock()
	defer s.js.mu.Unlock()
	s.js.stored = true
}

// Journal is the bucket as the journal package reads and writes it.
func (s *Source) Journal() journal.Bucket {
	b := &journal.S3Bucket{Client: s.client, Bucket: s.bucket}
	if g := s.reader.Lean(); g != nil {
		b.Lean = g
	}
	return b
}

// Merge reads a table folder that holds a change journal (history.Merger);
// ok is false for one that holds versions.
func (s *Source) Merge(ctx context.Context, dir, lo, hi string, times []time.Time, stats *history.Stats, fn func(history.Entry) error) (bool, error) {
	s.js.mu.Lock()
	absent := s.js.absent[dir]
	skew, wait, stored := s.js.skew, s.js.wait, s.js.stored
	if !s.js.set {
		skew = history.DefaultClockSkew
	}
	s.js.mu.Unlock()
	if absent {
		return false, nil
	}
	r := &journal.Reader{Bucket: s.Journal(), Skew: skew, Wait: wait, Stored: stored, State: s.listedState(dir)}
	if r.State == nil {
		st, err := journal.LoadState(ctx, r.Bucket, dir)
		if err == nil {
			r.State = st
		} else if !errors.Is(err, journal.ErrNoJournal) {
			return false, err
		}
	}
	var ok bool
	var err error
	if r.State != nil && !r.State.ItemsWindow().IsZero() {
		// An import's window is open: the item versions after its cut too
		// (journalwindow.go).
		ok, err = s.mergeWindow(ctx, dir, lo, hi, r.State.ItemsWindow(), stats, func(fn func(history.Entry) error) (bool, error) {
			return r.Merge(ctx, dir, lo, hi, times, stats, fn)
		}, fn)
	} else {
		ok, err = r.Merge(ctx, dir, lo, hi, times, stats, fn)
	}
	if err == nil && !ok {
		s.markAbsent(dir)
	}
	return ok, err
}

// markAbsent notes that dir holds no journal: later reads list versions
// without asking again.
func (s *Source) markAbsent(dir string) {
	s.js.mu.Lock()
	defer s.js.mu.Unlock()
	if s.js.absent == nil {
		s.js.absent = map[string]bool{}
	}
	s.js.absent[dir] = true
}

// keepState keeps dir's journal as listed, for the read that follows
// (listedState).
func (s *Source) keepState(dir string, st *journal.State) {
	s.js.mu.Lock()
	defer s.js.mu.Unlock()
	if s.js.states == nil {
		s.js.states = map[string]*journal.State{}
	}
	s.js.states[dir] = st
}
