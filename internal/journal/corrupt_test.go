package journal_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/testsupport/membucket"
)

// A damaged segment stops a compaction with an error naming it, before
// anything is written or deleted: no manifest (so no output exists for a
// reader), and every segment still there. Compaction reads its segments
// by group merges (docs/DESIGN.md §10.5); the damage is in the middle of
// one group.
func TestCompactStopsOnDamagedSegment(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		body       func() []byte
	}{
		{"not gzip", "is not gzip", func() []byte { return []byte("not a gzip stream") }},
		{"bad line", "line 2", func() []byte {
			return gz("{\"id\":\"" + keyID(1) + "\",\"timeMs\":1,\"event\":\"REMOVE\",\"Keys\":{}}\n{broken\n")
		}},
		{"out of order", "out of order", func() []byte {
			return gz("{\"id\":\"" + keyID(9) + "\",\"timeMs\":1,\"event\":\"REMOVE\",\"Keys\":{}}\n{\"id\":\"" + keyID(1) + "\",\"timeMs\":1,\"event\":\"REMOVE\",\"Keys\":{}}\n")
		}},
		{"cut short", "unexpected EOF", func() []byte {
			b := gz(strings.Repeat("{\"id\":\""+keyID(1)+"\",\"timeMs\":1,\"event\":\"REMOVE\",\"Keys\":{}}\n", 50))
			return b[:len(b)/2]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			now := start
			b := membucket.New()
			b.Now = func() time.Time { return now }
			const dir = "backups/T/"
			if err := journal.EnsureDescriptor(ctx, b, dir, time.Second, "test"); err != nil {
				t.Fatal(err)
			}
			var segs []string
			for i := range 40 {
				now = start.Add(time.Duration(i) * time.Second)
				key, err := journal.WriteSegment(ctx, b, dir, []journal.Record{rec(change{key: i, t: now, seq: int64(i + 1), val: i})}, now)
				if err != nil {
					t.Fatal(err)
				}
				segs = append(segs, key)
			}
			damaged := segs[len(segs)/2+3]
			if err := b.Put(ctx, damaged, tc.body(), false); err != nil {
				t.Fatal(err)
			}
			now = start.Add(10 * time.Minute)
			c := &journal.Compactor{Bucket: b, Dir: dir, Intervals: []time.Duration{10 * time.Second, 60 * time.Second},
				BaseEvery: 60 * time.Second, DeleteDelay: 0, Skew: time.Second, Clock: fakeClock{&now}, Tool: "test"}
			_, err := c.Run(ctx)
			if err == nil || !strings.Contains(err.Error(), damaged) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("compact: %v; want an error naming %s and %q", err, damaged, tc.want)
			}
			var manifests, left int
			if err := b.List(ctx, dir+"journal/", "", func(o journal.Object) bool {
				switch {
				case strings.HasSuffix(o.Key, "/manifest.json"):
					manifests++
				case strings.HasPrefix(o.Key, dir+"journal/0/"):
					left++
				}
				return true
			}); err != nil {
				t.Fatal(err)
			}
			if manifests != 0 || left != len(segs) {
				t.Fatalf("after the failed compaction: %d manifests, %d of %d segments", manifests, left, len(segs))
			}
		})
	}
}

func gz(s string) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write([]byte(s))
	w.Close()
	return buf.Bytes()
}
