package journal_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/testsupport/membucket"
)

// TestRetentionTiers: a journal with a day of changes (26 hours, a change
// every 20 s, compacted every hour into 1m and 1h levels and 6-hourly
// bases), then compacted with --keep-exact 1h --keep-hourly 4h: every
// time in the exact window is oracle-exact, every whole hour before it
// back to the kept base is exact, a time between two whole hours is
// refused naming the rule (a warning with --allow-partial-history), and a
// time before the kept base is refused.
func TestRetentionTiers(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	b := membucket.New()
	b.Now = func() time.Time { return now }
	const dir = "backups/T/"
	const lag = 10 * time.Second
	if err := journal.EnsureDescriptor(ctx, b, dir, lag, "test"); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var all, pending []change
	seq := int64(1000)
	compactor := func() *journal.Compactor {
		return &journal.Compactor{Bucket: b, Dir: dir, Intervals: []time.Duration{time.Minute, time.Hour}, BaseEvery: 6 * time.Hour,
			Skew: time.Second, Clock: fakeClock{&now}, Tool: "test", PartBytes: 1 << 20}
	}
	const end = 26*3600 + 1800
	for sec := 0; sec < end; sec += 20 {
		now = start.Add(time.Duration(sec) * time.Second)
		seq += 1 + rng.Int64N(3)
		pending = append(pending, change{key: rng.IntN(40), t: now, seq: seq, del: rng.IntN(6) == 0, val: rng.IntN(1000)})
		if sec%300 == 280 {
			stored := now.Add(time.Second)
			if rng.IntN(10) == 0 {
				stored = now.Add(30 * time.Second) // late
			}
			for i := range pending {
				pending[i].stored = stored
			}
			recs := make([]journal.Record, len(pending))
			for i, c := range pending {
				recs[i] = rec(c)
			}
			saved := now
			now = stored
			if _, err := journal.WriteSegment(ctx, b, dir, recs, stored); err != nil {
				t.Fatal(err)
			}
			now = saved
			all, pending = append(all, pending...), nil
		}
		if sec%3600 == 3599-19 {
			if _, err := compactor().Run(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	now = start.Add(end * time.Second)
	c := compactor()
	c.KeepExact, c.KeepHourly = time.Hour, 4*time.Hour
	rep, err := c.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	thinned := 0
	for _, o := range rep.Outputs {
		if o.PrecisionSeconds == 3600 {
			thinned++
		}
	}
	t.Logf("retention: %d thinned outputs written, %d outputs and %d bases deleted", thinned, rep.OutputsDeleted, rep.BasesDeleted)
	if thinned == 0 || rep.OutputsDeleted == 0 || rep.BasesDeleted == 0 {
		t.Fatalf("retention did nothing: %+v", rep)
	}
	st, err := journal.LoadState(ctx, b, dir)
	if err != nil {
		t.Fatal(err)
	}
	h := st.Horizon("membucket", "backups/T", now)
	exactFrom := start.Add(25 * time.Hour) // now - 1h, to the hour
	floor := start.Add(18 * time.Hour)     // the newest 6-hourly base at or before now - 4h
	last := now.Add(-lag - 2*time.Second)  // what a read may see now
	check := func(at time.Time) {
		t.Helper()
		if _, err := h.Check(false, history.At{Flag: "--at", T: at}); err != nil {
			t.Fatalf("%s: refused: %v", at, err)
		}
		if d := diffStates(oracle(all, lag, at), readAt(t, b, dir, at, &now, 0)); d != "[]" {
			t.Fatalf("state at %s differs from the oracle: %s", at, d)
		}
	}
	for at := exactFrom.Add(time.Second); !at.After(last); at = at.Add(7 * time.Second) {
		check(at)
	}
	for at := floor; !at.After(exactFrom); at = at.Add(time.Hour) {
		check(at)
	}
	// Between two whole hours: refused, naming the rule and the two
	// nearest exact times; a warning with --allow-partial-history.
	between := start.Add(21*time.Hour + 17*time.Minute)
	_, err = h.Check(false, history.At{Flag: "--at", T: between})
	if !errors.Is(err, history.ErrBeyondHorizon) || !strings.Contains(err.Error(), "--keep-exact") ||
		!strings.Contains(err.Error(), "2026-01-01T21:00:00Z and 2026-01-01T22:00:00Z") {
		t.Fatalf("a time between two kept hours: %v", err)
	}
	if warns, err := h.Check(true, history.At{Flag: "--at", T: between}); err != nil || len(warns) != 1 || !strings.HasPrefix(warns[0], history.PartialPrefix) {
		t.Fatalf("--allow-partial-history: %q, %v", warns, err)
	}
	// Before the kept base: refused.
	if _, err := h.Check(false, history.At{Flag: "--at", T: floor.Add(-time.Hour)}); !errors.Is(err, history.ErrBeyondHorizon) || !strings.Contains(err.Error(), "--keep-hourly") {
		t.Fatalf("a time before the kept base: %v", err)
	}
	// Compaction goes on after retention, and the horizon holds.
	now = now.Add(2 * time.Hour)
	c = compactor()
	c.KeepExact, c.KeepHourly = time.Hour, 4*time.Hour
	if _, err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err = journal.LoadState(ctx, b, dir); err != nil {
		t.Fatal(err)
	}
	h = st.Horizon("membucket", "backups/T", now)
	check(start.Add(26*time.Hour + 10*time.Minute)) // in the level-2 output (26:00, 28:00], not thinned: it ends after now - 1h
	check(start.Add(25 * time.Hour))
	// The kept base moved to 24:00 (now - 4h is 24:30): 23:00 is refused.
	if _, err := h.Check(false, history.At{Flag: "--at", T: start.Add(23 * time.Hour)}); !errors.Is(err, history.ErrBeyondHorizon) {
		t.Fatalf("a time before the new kept base: %v", err)
	}
}
