package journal_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/testsupport/membucket"
)

// change is one write as the model knows it.
type change struct {
	key    int
	t      time.Time // ApproximateCreationDateTime
	stream int       // 0: the first table, 1: the re-created one
	seq    int64
	del    bool
	val    int
	stored time.Time // first store of its segment
}

type fakeClock struct{ now *time.Time }

func (c fakeClock) Now() time.Time { return *c.now }
func (c fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	*c.now = c.now.Add(d)
	return nil
}

var streams = []string{
	"arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/2026-01-01T00:00:00.000",
	"arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/2026-01-01T00:03:00.000",
}

func keyID(k int) string { return fmt.Sprintf("%064x", k*7919) }

func rec(c change) journal.Record {
	r := journal.Record{ID: keyID(c.key), TimeMs: c.t.UnixMilli(), Seq: fmt.Sprint(c.seq), Stream: streams[c.stream],
		Keys: []byte(fmt.Sprintf(`{"pk":{"S":"k%d"}}`, c.key))}
	switch {
	case c.del:
		r.Event = journal.EventRemove
	default:
		r.Event = journal.EventModify
		r.NewImage = []byte(fmt.Sprintf(`{"pk":{"S":"k%d"},"v":{"N":"%d"}}`, c.key, c.val))
	}
	return r
}

// oracle is the state at t by the rule of docs/DESIGN.md §10.4, computed
// from the changes directly: per key, the last change (by stream, then
// sequence number) whose time is at or before t and whose first store was
// by t + lag.
func oracle(changes []change, lag time.Duration, t time.Time) map[string]string {
	best := map[int]change{}
	for _, c := range changes {
		if c.t.After(t) || c.stored.After(t.Add(lag)) {
			continue
		}
		b, ok := best[c.key]
		if !ok || c.stream > b.stream || (c.stream == b.stream && c.seq > b.seq) {
			best[c.key] = c
		}
	}
	out := map[string]string{}
	for k, c := range best {
		if !c.del {
			out[keyID(k)] = string(rec(c).NewImage)
		}
	}
	return out
}

func readAt(t *testing.T, b journal.Bucket, dir string, at time.Time, now *time.Time, fanIn int) map[string]string {
	t.Helper()
	r := &journal.Reader{Bucket: b, Clock: fakeClock{now}, FanIn: fanIn}
	byKey := map[string][]history.Entry{}
	ok, err := r.Merge(context.Background(), dir, "", "", []time.Time{at, history.UpToNow}, nil, func(e history.Entry) error {
		byKey[e.Key] = append(byKey[e.Key], e)
		return nil
	})
	if err != nil || !ok {
		t.Fatalf("merge at %s: ok %v, %v", at, ok, err)
	}
	out := map[string]string{}
	for k, es := range byKey {
		if e, ok := history.StateAt(es, at); ok {
			out[k[len(dir):]] = string(e.Body)
		}
	}
	return out
}

func diffStates(want, got map[string]string) string {
	var d []string
	for k, v := range want {
		if got[k] != v {
			d = append(d, fmt.Sprintf("%s…: want %s, got %q", k[56:], v, got[k]))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("%s…: want absent, got %s", k[56:], v))
		}
	}
	sort.Strings(d)
	if len(d) > 5 {
		d = append(d[:5], fmt.Sprintf("… %d more", len(d)-5))
	}
	return fmt.Sprint(d)
}

// TestJournalModel writes a journal as a stream writer would (batches,
// redeliveries whole and from the middle, late batches, a same-second put
// and delete, a re-created table whose new stream's sequence numbers are
// lower), compacts it at points along the way, and checks the state at
// every second against the oracle, before and after compaction.
func TestJournalModel(t *testing.T) {
	journalModel(t, map[int]bool{120: true, 200: true, 330: true}, 0)
}

// TestJournalModelOften compacts every 13 seconds with a delete delay, so
// level outputs of the last run stay beside a wider level's window the
// next run wrote first, and chains of a level pass over it (§10.6).
func TestJournalModelOften(t *testing.T) {
	at := map[int]bool{}
	for s := 20; s < 360; s += 13 {
		at[s] = true
	}
	journalModel(t, at, 30*time.Second)
}

func journalModel(t *testing.T, compactAt map[int]bool, deleteDelay time.Duration) {
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
	rng := rand.New(rand.NewPCG(1, 2))
	var all []change
	var seq [2]int64 = [2]int64{1_000_000, 500}
	var pending []change
	var checks []time.Time
	for sec := 0; sec < 360; sec++ {
		now = start.Add(time.Duration(sec) * time.Second)
		stream := 0
		if sec >= 180 {
			stream = 1
		}
		for range rng.IntN(4) {
			seq[stream] += int64(1 + rng.IntN(3))
			c := change{key: rng.IntN(30), t: now, stream: stream, seq: seq[stream], del: rng.IntN(5) == 0, val: rng.IntN(1000)}
			pending = append(pending, c)
			if rng.IntN(20) == 0 { // same second: a put then its delete
				seq[stream]++
				pending = append(pending, change{key: c.key, t: now, stream: stream, seq: seq[stream], del: true})
			}
		}
		if sec%5 != 4 || len(pending) == 0 {
			goto compact
		}
		{
			batch := pending
			pending = nil
			storeAt := now.Add(time.Duration(rng.IntN(3)) * time.Second)
			if rng.IntN(8) == 0 {
				storeAt = now.Add(25 * time.Second) // a late batch: more than the lag
			}
			write := func(cs []change, at time.Time) {
				saved := now
				now = at
				recs := make([]journal.Record, len(cs))
				for i, c := range cs {
					recs[i] = rec(c)
				}
				if _, err := journal.WriteSegment(ctx, b, dir, recs, at); err != nil {
					t.Fatal(err)
				}
				now = saved
			}
			if storeAt.After(now) {
				// Written at its store time: the model's "stored" is when
				// the bucket stamped it.
				defer func(cs []change, at time.Time) {}(batch, storeAt)
			}
			for i := range batch {
				batch[i].stored = storeAt.Truncate(time.Second)
			}
			all = append(all, batch...)
			write(batch, storeAt)
			switch rng.IntN(6) {
			case 0: // redelivered whole, later
				write(batch, storeAt.Add(3*time.Second))
			case 1: // redelivered from the middle, with more records after
				mid := len(batch) / 2
				write(batch[mid:], storeAt.Add(2*time.Second))
			}
		}
	compact:
		if compactAt[sec] {
			c := &journal.Compactor{Bucket: b, Dir: dir, Intervals: []time.Duration{10 * time.Second, 60 * time.Second},
				BaseEvery: 120 * time.Second, KeepBases: 1, DeleteDelay: deleteDelay, Skew: time.Second, Clock: fakeClock{&now}, Tool: "test", PartBytes: 2000}
			rep, err := c.Run(ctx)
			if err != nil {
				t.Fatalf("compact at %ds: %v", sec, err)
			}
			t.Logf("compact at %ds: %d outputs, %d segments deleted, %d outputs deleted, covered %s", sec, len(rep.Outputs), rep.SegmentsDeleted, rep.OutputsDeleted, rep.Covered.Format(time.TimeOnly))
			checks = append(checks, now)
		}
	}
	final := start.Add(400 * time.Second)
	now = final
	check := func(label string) {
		for s := -1; s < 360; s++ {
			at := start.Add(time.Duration(s) * time.Second)
			want := oracle(all, lag, at)
			// A fan-in of 3 makes a read of many segments merge them into
			// local files, in passes.
			got := readAt(t, b, dir, at, &now, 3)
			if d := diffStates(want, got); d != "[]" {
				t.Fatalf("%s: state at %ds differs: %s", label, s, d)
			}
		}
	}
	check("after the writes")
	c := &journal.Compactor{Bucket: b, Dir: dir, Intervals: []time.Duration{10 * time.Second, 60 * time.Second},
		BaseEvery: 120 * time.Second, DeleteDelay: 0, Skew: time.Second, Clock: fakeClock{&now}, Tool: "test", PartBytes: 2000}
	if _, err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	check("after the last compaction")
	_ = checks
}
