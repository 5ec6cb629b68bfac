// Package storetest is the acceptance suite of store.Store, the folder a
// snapshot is written to and read from: the rules every implementation
// (a local folder, an S3 prefix) must follow, run the same way against
// each, as Thanos's objstore runs one AcceptanceTest against every
// provider. The snapshot format leans on them (docs/DESIGN.md §5.9): a
// reader never sees half a file, so a folder without manifest-summary.json
// is unfinished and one with it is whole.
//
// The rules:
//   - a file created is visible (Exists, Open, List) only once committed,
//     with exactly what was written, large files (many upload parts)
//     included; an aborted one never is, and Abort after Commit is safe;
//   - Put writes a small file in one go, and again replaces it;
//   - List is recursive, sorted in byte order, names relative to the store
//     and slash-separated; a folder lists only what is under it (not a
//     sibling whose name it prefixes); a missing folder lists nothing;
//   - Exists is false and Open is ErrNotExist for a missing file;
//   - Remove makes a file missing; removing a missing file is no error;
//   - Sub is the store of a sub-folder: its names are relative to it, and
//     what it writes the parent sees under the folder's name.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/dynasnap/dynasnap/internal/store"
)

// Factory makes an empty store; each subtest gets its own.
type Factory func(t *testing.T) store.Store

// Run runs every rule against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	t.Run("CommitMakesVisible", func(t *testing.T) { testCommit(t, newStore(t), []byte(`{"Item":{"pk":{"S":"a"}}}`+"\n")) })
	t.Run("CommitEmpty", func(t *testing.T) { testCommit(t, newStore(t), nil) })
	// Larger than one S3 upload part (5 MiB), so the parts are uploaded
	// while it is written, before it is committed.
	t.Run("CommitLarge", func(t *testing.T) { testCommit(t, newStore(t), large(6<<20+123)) })
	t.Run("Abort", func(t *testing.T) { testAbort(t, newStore(t)) })
	t.Run("Put", func(t *testing.T) { testPut(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("Missing", func(t *testing.T) { testMissing(t, newStore(t)) })
	t.Run("Remove", func(t *testing.T) { testRemove(t, newStore(t)) })
	t.Run("Sub", func(t *testing.T) { testSub(t, newStore(t)) })
}

// large is n bytes that no two parts of share by accident.
func large(n int) []byte {
	b := make([]byte, 0, n+32)
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, "%08d ", i)
	}
	return b[:n]
}

func read(t *testing.T, st store.Store, name string) []byte {
	t.Helper()
	r, err := st.Open(context.Background(), name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

func list(t *testing.T, st store.Store, dir string) []string {
	t.Helper()
	names, err := st.List(context.Background(), dir)
	if err != nil {
		t.Fatalf("list %q: %v", dir, err)
	}
	return names
}

func exists(t *testing.T, st store.Store, name string) bool {
	t.Helper()
	ok, err := st.Exists(context.Background(), name)
	if err != nil {
		t.Fatalf("exists %s: %v", name, err)
	}
	return ok
}

// invisible checks that name is not there by any of the three ways to look.
func invisible(t *testing.T, st store.Store, name, when string) {
	t.Helper()
	if exists(t, st, name) {
		t.Fatalf("%s: %s exists", when, name)
	}
	if _, err := st.Open(context.Background(), name); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("%s: open %s: %v, want store.ErrNotExist", when, name, err)
	}
	if names := list(t, st, ""); len(names) != 0 {
		t.Fatalf("%s: the store lists %q, want nothing (no half-written or temporary file)", when, names)
	}
}

func testCommit(t *testing.T, st store.Store, data []byte) {
	ctx := context.Background()
	const name = "data/part-00000.json.gz"
	f, err := st.Create(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	invisible(t, st, name, "created")
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1<<20)
		if _, err := f.Write(rest[:n]); err != nil {
			t.Fatalf("write: %v", err)
		}
		rest = rest[n:]
	}
	invisible(t, st, name, fmt.Sprintf("%d bytes written, not committed", len(data)))
	if err := f.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if !exists(t, st, name) {
		t.Fatalf("committed: %s does not exist", name)
	}
	if got := read(t, st, name); !bytes.Equal(got, data) {
		t.Fatalf("committed: %s holds %d bytes, not the %d written", name, len(got), len(data))
	}
	if got := list(t, st, ""); !slices.Equal(got, []string{name}) {
		t.Fatalf("committed: the store lists %q, want [%s]", got, name)
	}
	f.Abort() // after Commit: changes nothing
	if !exists(t, st, name) {
		t.Fatalf("Abort after Commit removed %s", name)
	}
}

func testAbort(t *testing.T, st store.Store) {
	ctx := context.Background()
	for _, data := range [][]byte{[]byte("small"), large(6<<20 + 1)} {
		f, err := st.Create(ctx, "data/part-00001.json.gz")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		f.Abort()
		invisible(t, st, "data/part-00001.json.gz", fmt.Sprintf("%d bytes written and aborted", len(data)))
	}
}

func testPut(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Put(ctx, "manifest-summary.json", []byte(`{"version":"1"}`)); err != nil {
		t.Fatal(err)
	}
	if got := read(t, st, "manifest-summary.json"); string(got) != `{"version":"1"}` {
		t.Fatalf("put: %q", got)
	}
	if err := st.Put(ctx, "manifest-summary.json", []byte(`{"version":"2"}`)); err != nil {
		t.Fatal(err)
	}
	if got := read(t, st, "manifest-summary.json"); string(got) != `{"version":"2"}` {
		t.Fatalf("put again: %q, want the second content", got)
	}
	if err := st.Put(ctx, "_started", nil); err != nil {
		t.Fatal(err)
	}
	if got := read(t, st, "_started"); len(got) != 0 || !exists(t, st, "_started") {
		t.Fatalf("empty put: %q", got)
	}
}

func testList(t *testing.T, st store.Store) {
	ctx := context.Background()
	names := []string{
		"manifest-summary.json", "manifest-files.json", "_started",
		"data/part-00001.json.gz", "data/part-00000.json.gz", "data/part-00010.json.gz",
		"data-extra/x", "database", "sidecar/part-00000.json.gz",
		"AWSDynamoDB/0123-abcd/data/x.json.gz", "AWSDynamoDB/0123-abcd/manifest-summary.json",
		"a/b/c/d/deep.json", "Z-upper", "é-accent",
	}
	for _, n := range names {
		if err := st.Put(ctx, n, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	want := slices.Clone(names)
	slices.Sort(want) // byte order
	if got := list(t, st, ""); !slices.Equal(got, want) {
		t.Fatalf("list: %q\nwant %q (recursive, sorted, relative to the store)", got, want)
	}
	for dir, want := range map[string][]string{
		"data":                       {"data/part-00000.json.gz", "data/part-00001.json.gz", "data/part-00010.json.gz"},
		"AWSDynamoDB":                {"AWSDynamoDB/0123-abcd/data/x.json.gz", "AWSDynamoDB/0123-abcd/manifest-summary.json"},
		"AWSDynamoDB/0123-abcd/data": {"AWSDynamoDB/0123-abcd/data/x.json.gz"},
		"a/b":                        {"a/b/c/d/deep.json"},
		"nothing":                    nil,
		"dat":                        nil, // a prefix of names, not a folder
	} {
		if got := list(t, st, dir); !slices.Equal(got, want) {
			t.Errorf("list %q: %q, want %q", dir, got, want)
		}
	}
	for _, n := range names {
		if got := read(t, st, n); string(got) != n {
			t.Errorf("%s holds %q", n, got)
		}
	}
}

func testMissing(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.Put(ctx, "data/part-00000.json.gz", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"manifest-summary.json", "data/part-00001.json.gz", "data", "nothing/at/all"} {
		if exists(t, st, name) {
			t.Errorf("%s exists", name)
		}
		if _, err := st.Open(ctx, name); !errors.Is(err, store.ErrNotExist) {
			t.Errorf("open %s: %v, want store.ErrNotExist", name, err)
		}
	}
}

func testRemove(t *testing.T, st store.Store) {
	ctx := context.Background()
	for _, n := range []string{"manifest-summary.json", "data/part-00000.json.gz"} {
		if err := st.Put(ctx, n, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Remove(ctx, "manifest-summary.json"); err != nil {
		t.Fatal(err)
	}
	if exists(t, st, "manifest-summary.json") {
		t.Fatal("removed, still exists")
	}
	if _, err := st.Open(ctx, "manifest-summary.json"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("open removed: %v", err)
	}
	if got := list(t, st, ""); !slices.Equal(got, []string{"data/part-00000.json.gz"}) {
		t.Fatalf("list after remove: %q", got)
	}
	if err := st.Remove(ctx, "manifest-summary.json"); err != nil {
		t.Fatalf("remove a missing file: %v", err)
	}
	if err := st.Remove(ctx, "never/was"); err != nil {
		t.Fatalf("remove a file never written: %v", err)
	}
}

func testSub(t *testing.T, st store.Store) {
	ctx := context.Background()
	sub, ok := store.Sub(st, "AWSDynamoDB/0123-abcd")
	if !ok {
		t.Fatal("no sub-folders")
	}
	if err := sub.Put(ctx, "manifest-summary.json", []byte("sub")); err != nil {
		t.Fatal(err)
	}
	f, err := sub.Create(ctx, "data/part-00000.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("part"))
	if err := f.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "beside.json", []byte("parent")); err != nil {
		t.Fatal(err)
	}
	if got := list(t, sub, ""); !slices.Equal(got, []string{"data/part-00000.json.gz", "manifest-summary.json"}) {
		t.Fatalf("the sub-folder lists %q: want its own files, named relative to it", got)
	}
	if got := list(t, st, ""); !slices.Equal(got, []string{"AWSDynamoDB/0123-abcd/data/part-00000.json.gz", "AWSDynamoDB/0123-abcd/manifest-summary.json", "beside.json"}) {
		t.Fatalf("the parent lists %q", got)
	}
	if got := read(t, st, "AWSDynamoDB/0123-abcd/manifest-summary.json"); string(got) != "sub" {
		t.Fatalf("the parent reads %q", got)
	}
	if !strings.HasSuffix(sub.URL("manifest-summary.json"), "AWSDynamoDB/0123-abcd/manifest-summary.json") ||
		sub.URL("manifest-summary.json") != st.URL("AWSDynamoDB/0123-abcd/manifest-summary.json") {
		t.Fatalf("URLs differ: %s in the sub-folder, %s in the parent", sub.URL("manifest-summary.json"), st.URL("AWSDynamoDB/0123-abcd/manifest-summary.json"))
	}
	if err := sub.Remove(ctx, "manifest-summary.json"); err != nil {
		t.Fatal(err)
	}
	if exists(t, st, "AWSDynamoDB/0123-abcd/manifest-summary.json") {
		t.Fatal("removed in the sub-folder, still in the parent")
	}
}
