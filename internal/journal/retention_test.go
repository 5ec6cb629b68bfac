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
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestRetentionTiers: a journal with a day of changes (26 hours, a change
// every 20 s, compacted every hour into 1m and 1h levels and 6-hourly
// bases), then compacted with --keep-exact 1h --keep-hourly 4h: every
// time in the exact window is oracle-exact, every whole hour before it
// back to the kept base is exact, a time between two whole hours is
// refused naming the rule (a warning with --allow-partial-history), and a
// time before the kept base is refused. In memory, with a fake clock.
func TestRetentionTiers(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	b := membucket.New()
	b.Now = func() time.Time { return now }
	r := retentionDay{b: b, lag: 10 * time.Second, start: start, now: &now, step: 7 * time.Second}
	r.run(t)
	// Compaction goes on after retention, and the horizon holds.
	ctx := context.Background()
	now = now.Add(2 * time.Hour)
	c := r.compactor(now)
	c.KeepExact, c.KeepHourly = time.Hour, 4*time.Hour
	if _, err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := journal.LoadState(ctx, b, r.dir())
	if err != nil {
		t.Fatal(err)
	}
	r.h = st.Horizon("membucket", "backups/T", now)
	r.check(t, start.Add(26*time.Hour+10*time.Minute)) // in the level-2 output (26:00, 28:00], not thinned: it ends after now - 1h
	r.check(t, start.Add(25*time.Hour))
	// The kept base moved to 24:00 (now - 4h is 24:30): 23:00 is refused.
	if _, err := r.h.Check(false, history.At{Flag: "--at", T: start.Add(23 * time.Hour)}); !errors.Is(err, history.ErrBeyondHorizon) {
		t.Fatalf("a time before the new kept base: %v", err)
	}
}

// TestRetentionTiersS3 runs the same day against the local S3 server
// (SeaweedFS, journal.S3Bucket). S3 stamps every segment with the real
// clock, and a segment's LastModified is its store time (§10.4), so the
// day of changes is the real last day: changes made from H-27h to
// H-30m (H: this hour), all stored now, under a descriptor lag longer than
// the day (L = now - start + 1h), so every change's effective time is its
// own. The compactions of the day run with a clock ahead of the real one
// by L - 10s, cutting where the in-memory test's 10 s lag cuts; the final
// compaction with retention runs at the real time (a minute ahead, so
// the outputs it writes have aged past the zero delete delay): D1 and D2
// and the delete delay count from the real clock, as they do in
// production. The reads take a clock ahead too, so they don't wait out L.
func TestRetentionTiersS3(t *testing.T) {
	c := testenv.Clients(t)
	b := &journal.S3Bucket{Client: c.S3(), Bucket: testenv.Bucket(t, c, true)}
	h := time.Now().UTC().Truncate(time.Hour)
	start := h.Add(-27 * time.Hour)
	lag := time.Now().Add(time.Hour).Sub(start).Truncate(time.Second)
	var now time.Time
	r := retentionDay{b: b, lag: lag, start: start, now: &now, step: 307 * time.Second, ahead: lag - 10*time.Second, real: true}
	r.run(t)
}

// retentionDay is TestRetentionTiers' day, over a bucket.
type retentionDay struct {
	b     journal.Bucket
	lag   time.Duration // the descriptor's
	start time.Time     // the first change, a whole hour
	now   *time.Time    // the simulated time (membucket's clock)
	step  time.Duration // between two times checked in the exact window
	// ahead is how far the compactions of the day run ahead of the
	// simulated time, and real that the bucket stamps the real time.
	ahead time.Duration
	real  bool

	all []change
	// segs: with real, each segment's key and the store time the day
	// gives it (its last change + 1 s), which S3 could not stamp.
	segs map[string]time.Time
	h    *history.Horizon
	// readNow is the readers' clock: ahead of the last change by the lag.
	readNow time.Time
}

func (r *retentionDay) dir() string { return "backups/T/" }

func (r *retentionDay) compactor(now time.Time) *journal.Compactor {
	clock := now
	return &journal.Compactor{Bucket: r.b, Dir: r.dir(), Intervals: []time.Duration{time.Minute, time.Hour}, BaseEvery: 6 * time.Hour,
		Skew: time.Second, Clock: fakeClock{&clock}, Tool: "test", PartBytes: 1 << 20}
}

func (r *retentionDay) check(t *testing.T, at time.Time) {
	t.Helper()
	if _, err := r.h.Check(false, history.At{Flag: "--at", T: at}); err != nil {
		t.Fatalf("%s: refused: %v", at, err)
	}
	if d := diffStates(oracle(r.all, r.lag, at), readAt(t, r.b, r.dir(), at, &r.readNow, 0)); d != "[]" {
		t.Fatalf("state at %s differs from the oracle: %s", at, d)
	}
}

// deleteCovered deletes the segments that compaction deletes in the
// in-memory day (those stored a second before the outputs' reach): on S3
// their LastModified is the real time, later than any output's reach, so
// compaction keeps them, and a read would take every change from them
// and never look at what retention kept.
func (r *retentionDay) deleteCovered(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	st, err := journal.LoadState(ctx, r.b, r.dir())
	if err != nil {
		t.Fatal(err)
	}
	covered := st.Covered().Add(-time.Second)
	n := 0
	for key, stored := range r.segs {
		if stored.Before(covered) {
			if err := r.b.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	t.Logf("deleted %d of %d segments, those the outputs (to %s) cover", n, len(r.segs), covered.Format(time.RFC3339))
	if n == 0 {
		t.Fatal("no segment is covered")
	}
}

func (r *retentionDay) run(t *testing.T) {
	ctx := context.Background()
	dir := r.dir()
	if err := journal.EnsureDescriptor(ctx, r.b, dir, r.lag, "test"); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var pending []change
	seq := int64(1000)
	const end = 26*3600 + 1800
	for sec := 0; sec < end; sec += 20 {
		*r.now = r.start.Add(time.Duration(sec) * time.Second)
		seq += 1 + rng.Int64N(3)
		pending = append(pending, change{key: rng.IntN(40), t: *r.now, seq: seq, del: rng.IntN(6) == 0, val: rng.IntN(1000)})
		if sec%300 == 280 {
			stored := r.now.Add(time.Second)
			if rng.IntN(10) == 0 {
				stored = r.now.Add(30 * time.Second) // late
			}
			if r.real {
				stored = time.Now().UTC() // named by the writer's clock, stamped by S3's
			}
			recs := make([]journal.Record, len(pending))
			for i, c := range pending {
				recs[i] = rec(c)
			}
			saved := *r.now
			*r.now = stored
			key, err := journal.WriteSegment(ctx, r.b, dir, recs, stored)
			if err != nil {
				t.Fatal(err)
			}
			*r.now = saved
			if r.real {
				if r.segs == nil {
					r.segs = map[string]time.Time{}
				}
				r.segs[key] = saved.Add(time.Second)
				// At most a second later than S3's LastModified; any store
				// before start + lag gives the change its own time.
				stored = time.Now().UTC().Truncate(time.Second).Add(time.Second)
				if stored.After(r.start.Add(r.lag)) {
					t.Fatalf("the day took longer than the lag allows for")
				}
			}
			for i := range pending {
				pending[i].stored = stored
			}
			r.all, pending = append(r.all, pending...), nil
		}
		if sec%3600 == 3599-19 {
			if _, err := r.compactor(r.now.Add(r.ahead)).Run(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	dayEnd := r.start.Add(end * time.Second)
	*r.now = dayEnd
	if r.real {
		r.deleteCovered(t)
		*r.now = time.Now().UTC().Truncate(time.Second).Add(time.Minute)
	}
	now := *r.now
	c := r.compactor(now)
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
	t.Logf("retention at %s: %d thinned outputs written, %d outputs and %d bases deleted", now.Format(time.RFC3339), thinned, rep.OutputsDeleted, rep.BasesDeleted)
	if thinned == 0 || rep.OutputsDeleted == 0 || rep.BasesDeleted == 0 {
		t.Fatalf("retention did nothing: %+v", rep)
	}
	st, err := journal.LoadState(ctx, r.b, dir)
	if err != nil {
		t.Fatal(err)
	}
	r.h = st.Horizon("membucket", "backups/T", now)
	// Exact from now - 1h to the hour, or from where the top level reached
	// (the day's last hourly compaction, at 25:59:40, cut 25:00) if that is
	// earlier: the 1m level and the segments after it are never thinned.
	exactFrom := now.Add(-time.Hour).Truncate(time.Hour)
	if top := r.start.Add(25 * time.Hour); top.Before(exactFrom) {
		exactFrom = top
	}
	floor := now.Add(-4 * time.Hour).Truncate(6 * time.Hour) // the newest 6-hourly base at or before now - 4h
	last := dayEnd.Add(-r.lag - 2*time.Second)               // what a read may see now
	r.readNow = now
	if r.real {
		last = dayEnd
		r.readNow = dayEnd.Add(r.lag + time.Minute)
	}
	n := 0
	for at := exactFrom.Add(time.Second); !at.After(last); at = at.Add(r.step) {
		r.check(t, at)
		n++
	}
	for at := floor; !at.After(exactFrom); at = at.Add(time.Hour) {
		r.check(t, at)
		n++
	}
	t.Logf("%d times oracle-exact: every %s in (%s, %s], every hour from %s", n, r.step, exactFrom.Format(time.RFC3339), last.Format(time.RFC3339), floor.Format(time.RFC3339))
	// Between two whole hours: refused, naming the rule and the two
	// nearest exact times; a warning with --allow-partial-history.
	between := floor.Add(3*time.Hour + 17*time.Minute)
	if !between.Before(exactFrom) {
		between = floor.Add(17 * time.Minute)
	}
	h0 := between.Truncate(time.Hour)
	_, err = r.h.Check(false, history.At{Flag: "--at", T: between})
	if !errors.Is(err, history.ErrBeyondHorizon) || !strings.Contains(err.Error(), "--keep-exact") ||
		!strings.Contains(err.Error(), history.FormatTime(h0)+" and "+history.FormatTime(h0.Add(time.Hour))) {
		t.Fatalf("a time between two kept hours (%s): %v", between, err)
	}
	if warns, err := r.h.Check(true, history.At{Flag: "--at", T: between}); err != nil || len(warns) != 1 || !strings.HasPrefix(warns[0], history.PartialPrefix) {
		t.Fatalf("--allow-partial-history: %q, %v", warns, err)
	}
	// And what it reads there is the thinned output, not the exact changes
	// (which the segments would still give if a read took them).
	if d := diffStates(oracle(r.all, r.lag, between), readAt(t, r.b, dir, between, &r.readNow, 0)); d == "[]" {
		t.Fatalf("the state at %s, between two kept hours, is exact: the exact changes are still read", between)
	}
	// Before the kept base: refused.
	if _, err := r.h.Check(false, history.At{Flag: "--at", T: floor.Add(-time.Hour)}); !errors.Is(err, history.ErrBeyondHorizon) || !strings.Contains(err.Error(), "--keep-hourly") {
		t.Fatalf("a time before the kept base: %v", err)
	}
}
