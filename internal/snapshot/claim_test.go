package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dynasnap/dynasnap/internal/store"
)

// The claim of a local folder: a second claim fails while the first is
// held; a claim left by a dead run of the same source is taken over and
// its files cleared; another source's is refused; a user's file refuses
// the folder and stays.
func TestClaimOutput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	out := store.NewLocal(dir)
	rec := NewClaimRecord("test", "01-aaaa", "s3://b/p/t")
	first, err := ClaimOutput(ctx, out, SnapshotSpec(rec, 0, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ClaimOutput(ctx, out, SnapshotSpec(rec, 0, 0), nil); !errors.Is(err, ErrOutputTaken) {
		t.Fatalf("second claim: %v", err)
	}
	if err := out.Put(ctx, "data/part-00000.json.gz", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// The holder dies: its lock goes, its files and claim stay.
	first.held.Release()
	other := NewClaimRecord("test", "02-bbbb", "s3://b/p/other")
	if _, err := ClaimOutput(ctx, out, SnapshotSpec(other, 0, 0), nil); !errors.Is(err, ErrOutputTaken) {
		t.Fatalf("another source took over: %v", err)
	}
	again := NewClaimRecord("test", "03-cccc", "s3://b/p/t") // same source, another time
	c, err := ClaimOutput(ctx, out, SnapshotSpec(again, 0, 0), nil)
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data/part-00000.json.gz")); !os.IsNotExist(err) {
		t.Errorf("the dead run's part is still there (%v)", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, StartedName))
	var got ClaimRecord
	if json.Unmarshal(b, &got) != nil || got.ExportID != "03-cccc" {
		t.Errorf("_started holds %s", b)
	}
	if err := c.Abandon(ctx); err != nil {
		t.Fatal(err)
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 || names[0].Name() != DataDir {
		t.Errorf("abandoned folder holds %v", names)
	}

	user := t.TempDir()
	os.MkdirAll(filepath.Join(user, "data"), 0o755)
	os.WriteFile(filepath.Join(user, "data", "mine.txt"), []byte("keep"), 0o644)
	if _, err := ClaimOutput(ctx, store.NewLocal(user), SnapshotSpec(rec, 0, 0), nil); !errors.Is(err, ErrOutputTaken) {
		t.Fatalf("a user's folder: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(user, "data", "mine.txt")); err != nil || string(b) != "keep" {
		t.Errorf("mine.txt: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(user, StartedName)); !os.IsNotExist(err) {
		t.Errorf("refused folder has _started (%v)", err)
	}
}
