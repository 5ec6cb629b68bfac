// Package buckettest is the acceptance suite every journal.Bucket must
// pass (Thanos's objstore AcceptanceTest is the model): the listing order,
// conditional writes and deletes the journal relies on, and a journal
// written, compacted and read at every second against a model of what was
// written.
package buckettest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/journal"
)

// Run runs the suite; newBucket gives an empty bucket each time.
func Run(t *testing.T, newBucket func(t *testing.T) journal.Bucket) {
	t.Run("ListOrderAndBounds", func(t *testing.T) { listOrder(t, newBucket(t)) })
	t.Run("GetMissing", func(t *testing.T) { getMissing(t, newBucket(t)) })
	t.Run("PutIfAbsent", func(t *testing.T) { putIfAbsent(t, newBucket(t)) })
	t.Run("Delete", func(t *testing.T) { deleteObject(t, newBucket(t)) })
	t.Run("GetRange", func(t *testing.T) { getRange(t, newBucket(t)) })
	t.Run("JournalModel", func(t *testing.T) { journalModel(t, newBucket(t)) })
}

func list(t *testing.T, b journal.Bucket, prefix, after string, limit int) []journal.Object {
	t.Helper()
	var out []journal.Object
	err := b.List(context.Background(), prefix, after, func(o journal.Object) bool {
		out = append(out, o)
		return limit <= 0 || len(out) < limit
	})
	if err != nil {
		t.Fatalf("list %q after %q: %v", prefix, after, err)
	}
	return out
}

func keys(objs []journal.Object) []string {
	var k []string
	for _, o := range objs {
		k = append(k, o.Key)
	}
	return k
}

func listOrder(t *testing.T, b journal.Bucket) {
	ctx := context.Background()
	names := []string{"t/journal/0/b", "t/journal/1/x/manifest.json", "t/journal/0/a", "t/aaaa", "t2/journal/0/a", "t/journal/base/z"}
	for _, n := range names {
		if err := b.Put(ctx, n, []byte(n), false); err != nil {
			t.Fatal(err)
		}
	}
	// More than one page of a server that pages at 1,000.
	for i := range 1100 {
		if err := b.Put(ctx, fmt.Sprintf("p/%05d", i), []byte{'x'}, false); err != nil {
			t.Fatal(err)
		}
	}
	got := keys(list(t, b, "t/", "", 0))
	want := []string{"t/aaaa", "t/journal/0/a", "t/journal/0/b", "t/journal/1/x/manifest.json", "t/journal/base/z"}
	if !slices.Equal(got, want) {
		t.Fatalf("list t/: %v, want %v (sorted, the prefix only)", got, want)
	}
	if got := keys(list(t, b, "t/journal/", "t/journal/0/~", 0)); !slices.Equal(got, want[3:]) {
		t.Fatalf("list after t/journal/0/~: %v, want %v", got, want[3:])
	}
	if got := keys(list(t, b, "t/", "", 2)); !slices.Equal(got, want[:2]) {
		t.Fatalf("a listing stopped after 2: %v", got)
	}
	all := list(t, b, "p/", "", 0)
	if len(all) != 1100 || all[0].Key != "p/00000" || all[1099].Key != "p/01099" {
		t.Fatalf("a listing of 1,100 keys gave %d", len(all))
	}
	for _, o := range all[:3] {
		if o.LastModified.IsZero() || o.Size != 1 {
			t.Fatalf("%s: LastModified %v, size %d", o.Key, o.LastModified, o.Size)
		}
	}
}

// getRange: a bucket that reads ranges (the key index's ranged GETs)
// gives exactly the bytes asked for, the last one included.
func getRange(t *testing.T, b journal.Bucket) {
	rb, ok := b.(journal.RangeBucket)
	if !ok {
		t.Skip("reads whole objects only")
	}
	ctx := context.Background()
	body := []byte("0123456789abcdefghij")
	if err := b.Put(ctx, "r/1", body, false); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int64{{0, 1}, {3, 7}, {15, 5}, {0, 20}} {
		rc, err := rb.GetRange(ctx, "r/1", r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != string(body[r[0]:r[0]+r[1]]) {
			t.Fatalf("bytes %d+%d: %q, %v; want %q", r[0], r[1], got, err, body[r[0]:r[0]+r[1]])
		}
	}
	if _, err := rb.GetRange(ctx, "r/missing", 0, 1); !errors.Is(err, journal.ErrNotExist) {
		t.Fatalf("a range of a missing key: %v, want ErrNotExist", err)
	}
}

func getMissing(t *testing.T, b journal.Bucket) {
	if _, err := b.Get(context.Background(), "nothing/here"); !errors.Is(err, journal.ErrNotExist) {
		t.Fatalf("get of a missing key: %v, want ErrNotExist", err)
	}
}

func read(t *testing.T, b journal.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func putIfAbsent(t *testing.T, b journal.Bucket) {
	ctx := context.Background()
	if err := b.Put(ctx, "k", []byte("first"), true); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "k", []byte("second"), true); !errors.Is(err, journal.ErrExists) {
		t.Fatalf("a conditional put of a taken key: %v, want ErrExists", err)
	}
	if got := read(t, b, "k"); !bytes.Equal(got, []byte("first")) {
		t.Fatalf("after a refused put the body is %q", got)
	}
	if err := b.Put(ctx, "k", []byte("third"), false); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b, "k"); !bytes.Equal(got, []byte("third")) {
		t.Fatalf("an unconditional put left %q", got)
	}
}

func deleteObject(t *testing.T, b journal.Bucket) {
	ctx := context.Background()
	b.Put(ctx, "d/1", []byte("x"), false)
	b.Put(ctx, "d/2", []byte("x"), false)
	if err := b.Delete(ctx, "d/1"); err != nil {
		t.Fatal(err)
	}
	if got := keys(list(t, b, "d/", "", 0)); !slices.Equal(got, []string{"d/2"}) {
		t.Fatalf("after a delete: %v", got)
	}
	if _, err := b.Get(ctx, "d/1"); !errors.Is(err, journal.ErrNotExist) {
		t.Fatalf("get of a deleted key: %v", err)
	}
	if err := b.Put(ctx, "d/1", []byte("y"), true); err != nil {
		t.Fatalf("a conditional put of a deleted key: %v", err)
	}
}

// change is one write as the model keeps it.
type change struct {
	key int
	sec time.Time
	seq int64
	del bool
	val int
}

const stream = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"

func record(c change) journal.Record {
	r := journal.Record{ID: fmt.Sprintf("%064x", c.key*104729), TimeMs: c.sec.UnixMilli(), Seq: fmt.Sprint(c.seq), Stream: stream,
		Keys: []byte(fmt.Sprintf(`{"pk":{"N":"%d"}}`, c.key)), Event: journal.EventModify}
	if c.del {
		r.Event = journal.EventRemove
	} else {
		r.NewImage = []byte(fmt.Sprintf(`{"pk":{"N":"%d"},"v":{"N":"%d"}}`, c.key, c.val))
	}
	return r
}

// journalModel writes three seconds of batches (one redelivered whole, one
// from its middle), then reads the state at each second before and after a
// compaction (levels, a base, inputs deleted), and checks it against the
// model: per key, the last change made by then.
func journalModel(t *testing.T, b journal.Bucket) {
	ctx := context.Background()
	const dir = "backups/t/"
	// A few seconds: under load a PUT can land more than a second after
	// its changes, and the model counts no change as late.
	const lag = 3 * time.Second
	if err := journal.EnsureDescriptor(ctx, b, dir, lag, "buckettest"); err != nil {
		t.Fatal(err)
	}
	var all []change
	var secs []time.Time
	seq := int64(1000)
	for s := range 3 {
		now := time.Now()
		time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
		sec := time.Now().Truncate(time.Second)
		var batch []journal.Record
		for i := range 60 {
			seq++
			c := change{key: (i*7 + s*11) % 50, sec: sec, seq: seq, del: (i+s)%6 == 0, val: i + 100*s}
			all = append(all, c)
			batch = append(batch, record(c))
		}
		for _, recs := range [][]journal.Record{batch, batch[:30], batch[30:]} {
			if _, err := journal.WriteSegment(ctx, b, dir, recs, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		secs = append(secs, sec)
	}
	time.Sleep(time.Until(secs[2].Add(lag + 2500*time.Millisecond)))
	check := func(label string) {
		t.Helper()
		for _, at := range append([]time.Time{secs[0].Add(-time.Second)}, secs...) {
			want := map[string]string{}
			last := map[int]change{}
			for _, c := range all {
				if !c.sec.After(at) && c.seq > last[c.key].seq {
					last[c.key] = c
				}
			}
			for _, c := range last {
				if !c.del {
					r := record(c)
					want[r.ID] = string(r.NewImage)
				}
			}
			got := map[string]string{}
			byKey := map[string][]history.Entry{}
			r := &journal.Reader{Bucket: b, FanIn: 2}
			ok, err := r.Merge(ctx, dir, "", "", []time.Time{at}, nil, func(e history.Entry) error {
				byKey[e.Key] = append(byKey[e.Key], e)
				return nil
			})
			if err != nil || !ok {
				t.Fatalf("%s: read at %s: %v %v", label, at, ok, err)
			}
			for k, es := range byKey {
				if e, ok := history.StateAt(es, at); ok {
					got[k[len(dir):]] = string(e.Body)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%s: at %s: %d items, the model %d", label, at, len(got), len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("%s: at %s: %s… is %q, the model %s", label, at, k[:8], got[k], v)
				}
			}
		}
	}
	check("segments")
	c := &journal.Compactor{Bucket: b, Dir: dir, Intervals: []time.Duration{time.Second, 2 * time.Second}, BaseEvery: 2 * time.Second, Skew: time.Second, Tool: "buckettest"}
	rep, err := c.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check("compacted")
	if rep.SegmentsDeleted == 0 {
		t.Fatalf("compaction with no delete delay deleted no segment: %+v", rep)
	}
}
