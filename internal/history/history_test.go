package history_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/testsupport/memsource"
)

const dir = "backups/orders/"

func id(i int) string {
	h := sha256.Sum256([]byte(fmt.Sprint(i)))
	return hex.EncodeToString(h[:])
}

// junk are keys no hex prefix holds, or that sit where prefixes are cut:
// what other tools may leave in a table folder.
var junk = []string{"", ".keep", "README", "_started", "0g", "0a:x", "f", "ff", "fff", "ffff", "ffffz", "g", "zz", "0", "00", "000", "0000", "9~", "a", "A1", "é"}

type stored struct {
	key     string
	entries []history.Entry // newest first, as listed
}

// seed writes n hex keys (and the junk) with 1..maxVersions versions each,
// puts and deletes, several in the same second; it returns the model: each
// key's versions newest first.
func seed(b *memsource.Bucket, n, maxVersions int, withJunk bool, rng *rand.Rand) []stored {
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	var keys []string
	for i := range n {
		keys = append(keys, dir+id(i))
	}
	if withJunk {
		for _, j := range junk {
			keys = append(keys, dir+j)
		}
	}
	model := map[string][]history.Entry{}
	for _, k := range keys {
		nv := 1 + rng.Intn(maxVersions)
		for v := range nv {
			at := base.Add(time.Duration(rng.Intn(20)+v*rng.Intn(2)) * time.Second)
			if v > 0 && model[k][0].LastModified.After(at) {
				at = model[k][0].LastModified // stamps never go back within a key
			}
			var vid string
			del := v > 0 && rng.Intn(3) == 0
			if del {
				vid = b.Delete(k, at)
			} else {
				vid = b.Put(k, []byte(fmt.Sprintf(`{"pk":{"S":%q},"v":{"N":"%d"}}`, k, v)), at)
			}
			model[k] = append([]history.Entry{{Key: k, VersionID: vid, LastModified: at, IsDelete: del}}, model[k]...)
		}
	}
	var out []stored
	for k, es := range model {
		out = append(out, stored{k, es})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func TestRangesAreContiguous(t *testing.T) {
	for _, n := range []int{1, 2, 3, 15, 16, 17, 100, 255, 256, 257, 1000, 4096, 4097, 65535, 65536} {
		rs, err := history.Ranges(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != n || rs[0].Lo != "" || rs[n-1].Hi != "" {
			t.Fatalf("%d ranges: %d, first %+v last %+v", n, len(rs), rs[0], rs[n-1])
		}
		for i := 1; i < n; i++ {
			if rs[i].Lo != rs[i-1].Hi || rs[i].Lo <= rs[i-1].Lo && i > 1 {
				t.Fatalf("%d ranges: %d %+v after %+v", n, i, rs[i], rs[i-1])
			}
		}
	}
	for _, n := range []int{0, -1, 65537} {
		if _, err := history.Ranges(n); err == nil {
			t.Fatalf("%d ranges accepted", n)
		}
	}
}

// Every key of the folder, junk included, is walked exactly once, in key
// order, with all its versions, whatever the range count, shard split and
// page size; nothing is listed twice.
func TestKeysCoverEveryKeyOnce(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	b := memsource.New("b")
	b.Put("backups/other/"+id(1), []byte(`{}`), time.Now()) // a neighbour folder
	b.Put("backups/orders", []byte(`{}`), time.Now())       // a key that is the folder's name
	model := seed(b, 700, 4, true, rng)
	total := 0
	for _, s := range model {
		total += len(s.entries)
	}
	for _, tc := range []struct {
		ranges, shards int
		page           int32
	}{{1, 1, 0}, {16, 1, 0}, {16, 1, 7}, {256, 1, 5}, {4096, 1, 0}, {65536, 1, 50}, {100, 3, 9}, {4096, 7, 0}, {3, 5, 2}, {65536, 16, 0}, {17, 17, 3}} {
		t.Run(fmt.Sprintf("ranges%d-shards%d-page%d", tc.ranges, tc.shards, tc.page), func(t *testing.T) {
			var got []stored
			var listed int64
			for s := range tc.shards {
				stats := &history.Stats{}
				plan := history.Plan{Ranges: tc.ranges, Shard: s, Shards: tc.shards, PageSize: tc.page, ListConcurrency: 1 + s%4}
				lo, hi, _ := plan.Interval()
				err := history.Keys(context.Background(), b, dir, plan, nil, stats, func(k *history.Key) error {
					rel := strings.TrimPrefix(k.ObjectKey, dir)
					if lo != "" && rel < lo || hi != "" && rel >= hi {
						t.Errorf("shard %d [%q,%q) walked %q", s, lo, hi, rel)
					}
					got = append(got, stored{key: k.ObjectKey})
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				listed += stats.Versions.Load()
				if tc.page == 0 && stats.Overread.Load() > 0 {
					// Only junk in a gap may cost a page past its end.
					t.Logf("over-read %d entries", stats.Overread.Load())
				}
			}
			if len(got) != len(model) {
				t.Fatalf("walked %d keys, want %d", len(got), len(model))
			}
			for i := range got {
				if got[i].key != model[i].key {
					t.Fatalf("key %d: %q, want %q", i, got[i].key, model[i].key)
				}
			}
			if listed != int64(total) {
				t.Fatalf("listed %d entries, stored %d", listed, total)
			}
		})
	}
}

// The fold is checked against the model at every second of the history,
// same-second puts and deletes included: the state at T is the first entry
// in listing order stamped at or before T.
func TestFoldMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	b := memsource.New("b")
	model := seed(b, 300, 6, false, rng)
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	var times []time.Time
	for s := -1; s <= 30; s++ {
		times = append(times, base.Add(time.Duration(s)*time.Second))
	}
	byKey := map[string]stored{}
	for _, s := range model {
		byKey[s.key] = s
	}
	n := 0
	err := history.Keys(context.Background(), b, dir, history.Plan{Ranges: 16, PageSize: 3}, times, nil, func(k *history.Key) error {
		n++
		s := byKey[k.ObjectKey]
		if k.Versions != len(s.entries) {
			t.Errorf("%s: %d versions, want %d", k.ObjectKey, k.Versions, len(s.entries))
		}
		for i, at := range times {
			var want *history.Entry
			for j := range s.entries {
				if !s.entries[j].LastModified.After(at) {
					want = &s.entries[j]
					break
				}
			}
			exists := want != nil && !want.IsDelete
			if k.Exists[i] != exists || exists && k.At[i].VersionID != want.VersionID {
				t.Errorf("%s at %s: exists %v version %s, want %v %+v", k.ObjectKey, at, k.Exists[i], k.At[i].VersionID, exists, want)
			}
			e, ok := history.StateAt(s.entries, at)
			if ok != exists || ok && e.VersionID != want.VersionID {
				t.Errorf("StateAt disagrees with the fold for %s at %s", k.ObjectKey, at)
			}
		}
		newer := 0
		for _, e := range s.entries {
			if e.LastModified.After(times[0]) {
				newer++
			}
		}
		if k.Newer != newer {
			t.Errorf("%s: %d newer, want %d", k.ObjectKey, k.Newer, newer)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(model) {
		t.Fatalf("%d keys, want %d", n, len(model))
	}
}

// A range costs nothing when it is small: 4,096 or 65,536 ranges over a
// small table take about as many requests as 16, and list no entry twice.
func TestManyRangesCostLittle(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	b := memsource.New("b")
	model := seed(b, 2000, 5, false, rng)
	_ = model
	reqs := map[int]int64{}
	for _, n := range []int{16, 256, 4096, 65536} {
		stats := &history.Stats{}
		if err := history.Keys(context.Background(), b, dir, history.Plan{Ranges: n}, nil, stats, func(*history.Key) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if stats.Versions.Load() != int64(b.Versions()) || stats.Overread.Load() != 0 || stats.Repeats.Load() != 0 {
			t.Fatalf("%d ranges: listed %d of %d stored, over-read %d", n, stats.Versions.Load(), b.Versions(), stats.Overread.Load())
		}
		reqs[n] = stats.Requests.Load()
		t.Logf("%d ranges: %d requests (%d probes), %d prefixes", n, stats.Requests.Load(), stats.Probes.Load(), stats.Prefixes.Load())
	}
	if reqs[65536] > 2*reqs[16] {
		t.Fatalf("65,536 ranges took %d requests, 16 took %d", reqs[65536], reqs[16])
	}
}

// A prefix is split only when its first page says it holds several pages:
// one of two or three pages is paged, with far fewer requests than the
// nineteen of a split, and nothing is lost or listed twice either way.
func TestSplitOnlyLargePrefixes(t *testing.T) {
	for _, tc := range []struct {
		keys, maxPrefixes, maxRequests int
	}{
		// ~24,000 versions: sixteen children of ~1,500, paged in two.
		{12_000, 17, 60},
		// ~100,000 versions: children of ~6,250 are split again, and
		// their children of ~390 take one page each.
		{50_000, 273, 320},
	} {
		rng := rand.New(rand.NewSource(5))
		b := memsource.New("b")
		seed(b, tc.keys, 3, false, rng)
		stats := &history.Stats{}
		keys := 0
		if err := history.Keys(context.Background(), b, dir, history.Plan{}, nil, stats, func(*history.Key) error { keys++; return nil }); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d keys, %d versions: %d requests, %d prefixes", keys, b.Versions(), stats.Requests.Load(), stats.Prefixes.Load())
		if keys != tc.keys || stats.Versions.Load() != int64(b.Versions()) || stats.Overread.Load() != 0 {
			t.Fatalf("%d keys of %d, %d versions of %d, over-read %d", keys, tc.keys, stats.Versions.Load(), b.Versions(), stats.Overread.Load())
		}
		if p, r := stats.Prefixes.Load(), stats.Requests.Load(); p > int64(tc.maxPrefixes) || r > int64(tc.maxRequests) {
			t.Errorf("%d keys: %d prefixes, %d requests; want at most %d and %d", tc.keys, p, r, tc.maxPrefixes, tc.maxRequests)
		}
	}
}

// Servers that repeat an entry across pages lose nothing and list nothing twice.
func TestRepeatedEntriesDropped(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	b := memsource.New("b")
	b.RepeatLast = true
	seed(b, 200, 3, true, rng)
	stats := &history.Stats{}
	keys := 0
	if err := history.Keys(context.Background(), b, dir, history.Plan{Ranges: 256, PageSize: 4}, nil, stats, func(*history.Key) error { keys++; return nil }); err != nil {
		t.Fatal(err)
	}
	if stats.Versions.Load() != int64(b.Versions()) || stats.Repeats.Load() == 0 {
		t.Fatalf("listed %d of %d, %d repeats dropped", stats.Versions.Load(), b.Versions(), stats.Repeats.Load())
	}
}

type failing struct {
	history.Source
	b     *memsource.Bucket
	after int64
}

func (f failing) List(ctx context.Context, prefix string, after history.Marker, max int32) (*history.Page, error) {
	if f.b.Requests() >= f.after {
		return nil, errors.New("injected failure")
	}
	return f.b.List(ctx, prefix, after, max)
}

// The first error stops the walk, and so does the context.
func TestWalkStops(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	b := memsource.New("b")
	seed(b, 3000, 2, false, rng)
	err := history.Keys(context.Background(), failing{b, b, 5}, dir, history.Plan{PageSize: 100}, nil, nil, func(*history.Key) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("error %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err = history.Keys(ctx, b, dir, history.Plan{PageSize: 10}, nil, nil, func(*history.Key) error {
		if n++; n == 100 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v", err)
	}
	stop := errors.New("stop here")
	err = history.Keys(context.Background(), b, dir, history.Plan{}, nil, nil, func(*history.Key) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("callback error: %v", err)
	}
}

// Walk reads the versions Pick asks for and emits in key order; Keep drops
// keys; a bad object stops it, or is skipped and listed with SkipBad.
func TestWalkEmitsInOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	b := memsource.New("b")
	model := seed(b, 500, 3, false, rng)
	bad := b.Put(dir+id(100000), []byte(`not json`), time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	at := time.Date(2026, 11, 26, 9, 0, 30, 0, time.UTC)
	for _, skip := range []bool{false, true} {
		var keys []string
		w := &history.Walk[int]{Source: b, Dir: dir, Plan: history.Plan{Ranges: 4096}, Times: []time.Time{at}, Fetchers: 7, SkipBad: skip, Canonical: true,
			Pick: func(k *history.Key) ([]history.Entry, int, bool, error) {
				if !k.Exists[0] {
					return nil, 0, false, nil
				}
				return []history.Entry{k.At[0]}, 0, true, nil
			},
			Keep: func(_ context.Context, k *history.Key, _ int, got []history.Version) (bool, error) {
				return !strings.HasSuffix(k.ObjectKey, "0"), nil
			},
			Emit: func(_ context.Context, k *history.Key, _ int, got []history.Version) error {
				// Canonical without WithItem: the JSON and size, not the item.
				if len(got) != 1 || got[0].Item != nil || len(got[0].JSON) == 0 || got[0].ItemSize == 0 {
					return fmt.Errorf("%s: got %+v", k.ObjectKey, got)
				}
				keys = append(keys, k.ObjectKey)
				return nil
			}}
		res, err := w.Run(context.Background())
		if !skip {
			if !errors.Is(err, history.ErrBadObject) {
				t.Fatalf("bad object: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(res.BadObjects) != 1 || res.BadObjects[0].VersionID != bad {
			t.Fatalf("bad objects %+v", res.BadObjects)
		}
		var want []string
		for _, s := range model {
			if e, ok := history.StateAt(s.entries, at); ok && !strings.HasSuffix(e.Key, "0") {
				want = append(want, s.key)
			}
		}
		if !sort.StringsAreSorted(keys) || strings.Join(keys, ",") != strings.Join(want, ",") {
			t.Fatalf("emitted %d keys, want %d", len(keys), len(want))
		}
	}
}

func TestResolveTime(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 30, 15, 400_000_000, time.UTC)
	at, err := history.Resolve("", now)
	if err != nil || !at.Equal(time.Date(2026, 11, 26, 9, 30, 15, 0, time.UTC)) {
		t.Fatalf("default: %v %v", at, err)
	}
	if l := history.Listable(at, time.Second); !l.Equal(at.Add(2 * time.Second)) {
		t.Fatalf("listable %v", l)
	}
	for s, want := range map[string]time.Time{"-2h": now.Add(-2 * time.Hour), "2h": now.Add(-2 * time.Hour), "2026-11-26T09:00:00Z": time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)} {
		if got, err := history.Resolve(s, now); err != nil || !got.Equal(want) {
			t.Fatalf("%s: %v %v", s, got, err)
		}
	}
	for _, s := range []string{"2026-11-26T09:31:00Z", "yesterday", "2026-13-01T00:00:00Z"} {
		if _, err := history.Resolve(s, now); err == nil {
			t.Fatalf("%s accepted", s)
		}
	}
}

// slow is a source whose listings and reads take time, and which records
// how many listings were out at once.
type slow struct {
	history.Source
	b                *memsource.Bucket
	list, read       time.Duration
	inFlight, maxOut atomic.Int64
}

func (s *slow) List(ctx context.Context, prefix string, after history.Marker, max int32) (*history.Page, error) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxOut.Load()
		if n <= m || s.maxOut.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(s.list)
	return s.b.List(ctx, prefix, after, max)
}

func (s *slow) Read(ctx context.Context, key, versionID string, buf *bytes.Buffer) error {
	time.Sleep(s.read)
	return s.b.Read(ctx, key, versionID, buf)
}

// A walk whose fetches are the slower part lists just ahead of them, a few
// prefixes at once, not its whole list concurrency: listings far ahead of
// the fetches cost the server's time and buy nothing. One whose listing is
// the slower part (slow pages, or nothing to fetch: an incremental) lists
// more at once as its fetchers run short.
func TestListingFollowsFetching(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	b := memsource.New("b")
	seed(b, 12_000, 3, false, rng) // 17 prefixes of ~2 pages
	at := time.Date(2026, 11, 26, 9, 0, 30, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		list, read time.Duration
		fetchers   int
		fetch      bool
		fetchBound bool
	}{
		// Each side clearly the slower, even under -race on a busy machine.
		{"fetch-bound", 3 * time.Millisecond, 100 * time.Microsecond, 4, true, true},
		{"slow pages", 30 * time.Millisecond, 10 * time.Microsecond, 4, true, false},
		{"nothing fetched", 20 * time.Millisecond, 0, 16, false, false},
	} {
		// Timings on a machine other tests load too: a case that misses
		// is run again, up to three times, before it fails.
		var problem string
		for attempt := 1; attempt <= 3; attempt++ {
			src := &slow{Source: b, b: b, list: tc.list, read: tc.read}
			emitted := 0
			w := &history.Walk[int]{Source: src, Dir: dir, Plan: history.Plan{ListConcurrency: 64}, Times: []time.Time{at}, Fetchers: tc.fetchers,
				Pick: func(k *history.Key) ([]history.Entry, int, bool, error) {
					if !k.Exists[0] {
						return nil, 0, false, nil
					}
					if !tc.fetch {
						return nil, 0, true, nil
					}
					return []history.Entry{k.At[0]}, 0, true, nil
				},
				Emit: func(context.Context, *history.Key, int, []history.Version) error { emitted++; return nil }}
			if _, err := w.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			out := src.maxOut.Load()
			t.Logf("%s (try %d): %d keys emitted, at most %d listings at once", tc.name, attempt, emitted, out)
			if emitted == 0 {
				t.Fatalf("%s: nothing emitted", tc.name)
			}
			switch problem = ""; {
			case tc.fetchBound && out > 5:
				problem = fmt.Sprintf("%s: %d listings out at once; want a few", tc.name, out)
			case !tc.fetchBound && out < 8:
				problem = fmt.Sprintf("%s: at most %d listings out at once; want twice the first few at least", tc.name, out)
			}
			if problem == "" {
				break
			}
		}
		if problem != "" {
			t.Error(problem)
		}
	}
}
