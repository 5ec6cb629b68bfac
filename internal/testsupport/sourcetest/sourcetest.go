// Package sourcetest is the acceptance suite of history.Source: the rules
// every backup source must follow for the history package to read it right
// (docs/DESIGN.md §2.4, §3, §4), run the same way against each
// implementation, as Thanos's objstore runs one AcceptanceTest against
// every provider. A new kind of source (the change journal) passes Run
// before anything reads it.
//
// The rules:
//   - ordering: keys ascending in byte order, each key's versions and
//     delete markers newest first, in the order they were written even
//     within one second (a put then a delete in the same second must list
//     the delete first); IsLatest on each key's first entry only;
//   - entries: a delete marker is IsDelete with no body; a version's Size
//     is its body's length, and Read returns that body exactly; reading a
//     delete marker or an unknown version is an error;
//   - paging and markers: at most max entries a page; a truncated page
//     names a marker that moves forward; following the markers gives every
//     entry, where a page may repeat entries of the page before (some
//     servers do; the history drops them) but nothing else; a marker with
//     a version resumes within that key, one without resumes after it;
//   - prefixes: a listing holds exactly the keys that start with its prefix
//     (the prefix itself included), and an empty one is an empty page.
package sourcetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/dynasnap/dynasnap/internal/history"
)

// Writer adds to the backup a source reads, as the stream writer would:
// a version with a body, or a delete marker. Each returns the version id
// the source will list.
type Writer interface {
	Put(t *testing.T, key string, body []byte) string
	Delete(t *testing.T, key string) string
}

// Factory makes an empty source and the writer that fills it; each
// subtest gets its own.
type Factory func(t *testing.T) (history.Source, Writer)

// written is the suite's model of one entry, in write order.
type written struct {
	key, id string
	body    []byte // nil: a delete marker
	latest  bool   // the newest of its key (set by listing)
}

// model is what the suite wrote, and so what the source must list.
type model struct{ entries []written }

func (m *model) put(t *testing.T, w Writer, key, body string) {
	m.entries = append(m.entries, written{key: key, id: w.Put(t, key, []byte(body)), body: []byte(body)})
}

func (m *model) del(t *testing.T, w Writer, key string) {
	m.entries = append(m.entries, written{key: key, id: w.Delete(t, key)})
}

// listing is the full listing the source must give for prefix: keys in
// byte order, each key's entries newest (last written) first.
func (m *model) listing(prefix string) []written {
	byKey := map[string][]written{}
	var keys []string
	for _, e := range m.entries {
		if !strings.HasPrefix(e.key, prefix) {
			continue
		}
		if _, ok := byKey[e.key]; !ok {
			keys = append(keys, e.key)
		}
		byKey[e.key] = append(byKey[e.key], e)
	}
	sort.Strings(keys)
	var out []written
	for _, k := range keys {
		vs := byKey[k]
		for i := len(vs) - 1; i >= 0; i-- {
			e := vs[i]
			e.latest = i == len(vs)-1
			out = append(out, e)
		}
	}
	return out
}

// The keys: object ids of different lengths, names that sort around them
// ("README", "_started", upper case, non-ASCII), a key that is a prefix
// of others. All under one folder, as a table's are.
const folder = "backups/orders/"

var keys = []string{"0a", "0a1", "0b", "1", "9f", "README", "_started", "a", "ab", "abc", "b", "ff", "é"}

// fill writes the suite's history: every key put once, some changed, some
// deleted, one deleted and put back.
func fill(t *testing.T, w Writer) *model {
	m := &model{}
	for i, k := range keys {
		m.put(t, w, folder+k, fmt.Sprintf(`{"pk":{"S":%q},"v":{"N":"%d"}}`, k, i))
	}
	for _, k := range []string{"0a", "ab", "ff"} {
		m.put(t, w, folder+k, fmt.Sprintf(`{"pk":{"S":%q},"v":{"N":"changed"}}`, k))
	}
	for _, k := range []string{"0b", "abc", "ff"} {
		m.del(t, w, folder+k)
	}
	m.put(t, w, folder+"0b", `{"pk":{"S":"0b"},"v":{"N":"back"}}`)
	return m
}

// Run runs every rule against sources made by newSource.
func Run(t *testing.T, newSource Factory) {
	t.Run("Ordering", func(t *testing.T) { testOrdering(t, newSource) })
	t.Run("SameSecond", func(t *testing.T) { testSameSecond(t, newSource) })
	t.Run("Read", func(t *testing.T) { testRead(t, newSource) })
	t.Run("Paging", func(t *testing.T) { testPaging(t, newSource) })
	t.Run("Markers", func(t *testing.T) { testMarkers(t, newSource) })
	t.Run("Prefixes", func(t *testing.T) { testPrefixes(t, newSource) })
}

// listAll follows the markers from the start, checking the paging rules,
// and returns the entries with repeats dropped.
func listAll(t *testing.T, src history.Source, prefix string, max int32) []history.Entry {
	t.Helper()
	ctx := context.Background()
	var out []history.Entry
	var cur history.Marker
	var prev map[history.Marker]bool
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("prefix %q, max %d: more than 10,000 pages", prefix, max)
		}
		p, err := src.List(ctx, prefix, cur, max)
		if err != nil {
			t.Fatalf("list %q after %+v (max %d): %v", prefix, cur, max, err)
		}
		if max > 0 && int32(len(p.Entries)) > max {
			t.Fatalf("list %q after %+v: %d entries, more than max %d", prefix, cur, len(p.Entries), max)
		}
		seen := map[history.Marker]bool{}
		for _, e := range p.Entries {
			m := history.Marker{Key: e.Key, VersionID: e.VersionID}
			seen[m] = true
			if prev[m] {
				continue // listed again across the page boundary: allowed, dropped
			}
			if slices.ContainsFunc(out, func(o history.Entry) bool { return o.Key == e.Key && o.VersionID == e.VersionID }) {
				t.Fatalf("list %q after %+v (max %d): %s version %s listed again, and not from the page before", prefix, cur, max, e.Key, e.VersionID)
			}
			out = append(out, e)
		}
		if !p.IsTruncated {
			return out
		}
		next := history.Marker{Key: p.NextKeyMarker, VersionID: p.NextVersionIDMarker}
		switch {
		case next.Key == "":
			t.Fatalf("list %q after %+v (max %d): truncated page without a next key marker", prefix, cur, max)
		case next == cur, next.Key < cur.Key:
			t.Fatalf("list %q (max %d): marker %+v does not move forward from %+v", prefix, max, next, cur)
		}
		cur, prev = next, seen
	}
}

// check compares a listing with the model's.
func check(t *testing.T, what string, got []history.Entry, want []written) {
	t.Helper()
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(got):
			t.Fatalf("%s: %d entries, want %d; first missing: %s version %s", what, len(got), len(want), want[i].key, want[i].id)
		case i >= len(want):
			t.Fatalf("%s: %d entries, want %d; first extra: %s version %s", what, len(got), len(want), got[i].Key, got[i].VersionID)
		}
		g, w := got[i], want[i]
		if g.Key != w.key || g.VersionID != w.id {
			t.Fatalf("%s: entry %d is %s version %s, want %s version %s (keys in byte order, each key newest first)", what, i, g.Key, g.VersionID, w.key, w.id)
		}
		if g.IsDelete != (w.body == nil) {
			t.Fatalf("%s: %s version %s: IsDelete %v, want %v", what, g.Key, g.VersionID, g.IsDelete, w.body == nil)
		}
		if g.IsLatest != w.latest {
			t.Fatalf("%s: %s version %s: IsLatest %v, want %v (only each key's newest)", what, g.Key, g.VersionID, g.IsLatest, w.latest)
		}
		if !g.IsDelete && g.Size != int64(len(w.body)) {
			t.Fatalf("%s: %s version %s: Size %d, want the body's %d bytes", what, g.Key, g.VersionID, g.Size, len(w.body))
		}
		if g.LastModified.IsZero() {
			t.Fatalf("%s: %s version %s: no LastModified", what, g.Key, g.VersionID)
		}
		if i > 0 && got[i-1].Key == g.Key && g.LastModified.After(got[i-1].LastModified) {
			t.Fatalf("%s: %s version %s (%s) is newer than the entry listed before it (%s)", what, g.Key, g.VersionID, g.LastModified, got[i-1].LastModified)
		}
	}
}

func testOrdering(t *testing.T, newSource Factory) {
	src, w := newSource(t)
	m := fill(t, w)
	check(t, "one listing", listAll(t, src, folder, 1000), m.listing(folder))
	check(t, "default page size", listAll(t, src, folder, 0), m.listing(folder))
}

// A put and a delete of one key in the same second are told apart only by
// the listing's order (docs/DESIGN.md §3): newest first, as written.
func testSameSecond(t *testing.T, newSource Factory) {
	src, w := newSource(t)
	m := &model{}
	m.put(t, w, folder+"k1", `{"pk":{"S":"k1"}}`)
	m.del(t, w, folder+"k1")
	m.put(t, w, folder+"k2", `{"pk":{"S":"k2"}}`)
	m.del(t, w, folder+"k2")
	m.put(t, w, folder+"k2", `{"pk":{"S":"k2"},"again":{"BOOL":true}}`)
	got := listAll(t, src, folder, 1000)
	check(t, "put then delete at once", got, m.listing(folder))
	// In small pages, too: the order holds across pages.
	check(t, "put then delete at once, pages of 2", listAll(t, src, folder, 2), m.listing(folder))
}

func testRead(t *testing.T, newSource Factory) {
	src, w := newSource(t)
	m := fill(t, w)
	ctx := context.Background()
	var buf bytes.Buffer
	for _, e := range m.entries {
		err := src.Read(ctx, e.key, e.id, &buf)
		switch {
		case e.body == nil && err == nil:
			t.Errorf("read of delete marker %s version %s: no error", e.key, e.id)
		case e.body != nil && err != nil:
			t.Errorf("read %s version %s: %v", e.key, e.id, err)
		case e.body != nil && !bytes.Equal(buf.Bytes(), e.body):
			t.Errorf("read %s version %s: %q, want %q", e.key, e.id, buf.Bytes(), e.body)
		}
	}
	if err := src.Read(ctx, folder+"nothing-here", m.entries[0].id, &buf); err == nil {
		t.Errorf("read of a key never written: no error")
	}
	if err := src.Read(ctx, m.entries[0].key, "no-such-version", &buf); err == nil {
		t.Errorf("read of a version never written: no error")
	}
}

func testPaging(t *testing.T, newSource Factory) {
	src, w := newSource(t)
	m := fill(t, w)
	// Pages of one are left out: a server that starts each page with the
	// last entry of the page before could not move forward with them.
	for _, max := range []int32{2, 3, 4, 7} {
		check(t, fmt.Sprintf("pages of %d", max), listAll(t, src, folder, max), m.listing(folder))
	}
}

// A marker with a version resumes within its key; a marker with a key
// alone resumes after all of that key's versions.
func testMarkers(t *testing.T, newSource Factory) {
	src, w := newSource(t)
	m := fill(t, w)
	all := m.listing(folder)
	ctx := context.Background()
	for i, e := range all {
		p, err := src.List(ctx, folder, history.Marker{Key: e.key, VersionID: e.id}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		// A server may repeat the marker's own entry first.
		got := p.Entries
		if len(got) > 0 && got[0].Key == e.key && got[0].VersionID == e.id {
			got = got[1:]
		}
		check(t, fmt.Sprintf("after %s version %s", e.key, e.id), got, all[i+1:])
	}
	for _, k := range keys {
		key := folder + k
		p, err := src.List(ctx, folder, history.Marker{Key: key}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var want []written
		for _, e := range all {
			if e.key > key {
				want = append(want, e)
			}
		}
		check(t, "after key "+key, p.Entries, want)
	}
	p, err := src.List(ctx, folder, history.Marker{Key: folder + "ü"}, 1000)
	if err != nil || len(p.Entries) != 0 || p.IsTruncated {
		t.Fatalf("after the last key: %v, %+v", err, p)
	}
}

func testPrefixes(t *testing.T, newSource Factory) {
	src, w := newSource(t)
	m := fill(t, w)
	// Beside the folder, so that "backups/orders/" is a prefix in the
	// middle of other keys, as a table's folder is among other tables'.
	m.put(t, w, "backups/orders", `{"pk":{"S":"the folder's own name"}}`)
	m.put(t, w, "backups/orders-archive/0a", `{"pk":{"S":"another table"}}`)
	m.put(t, w, "backups/order/0a", `{"pk":{"S":"a shorter name"}}`)
	for _, prefix := range []string{folder, folder + "a", folder + "ab", folder + "0", folder + "0a", folder + "é", "backups/orders", "backups/", folder + "x", folder + "abcd"} {
		for _, max := range []int32{2, 1000} {
			check(t, fmt.Sprintf("prefix %q, pages of %d", prefix, max), listAll(t, src, prefix, max), m.listing(prefix))
		}
	}
}
