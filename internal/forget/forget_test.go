package forget

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/testsupport/fakesnap"

	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

// makeSnapshot writes a finished snapshot folder root/dir with a made-up
// exportTime and files data files.
func makeSnapshot(t *testing.T, root, dir string, exportTime time.Time, source string, files int) {
	t.Helper()
	fakesnap.Put(t, store.NewLocal(filepath.Join(root, dir)), exportTime, source, files)
}

func names(es []Entry) string {
	var out []string
	for _, e := range es {
		out = append(out, filepath.Base(e.Snapshot))
	}
	sort.Strings(out)
	return strings.Join(out, "")
}

func TestRunLocal(t *testing.T) {
	root := t.TempDir()
	for _, s := range spread {
		makeSnapshot(t, root, "hourly/"+s.Name, s.Time, "s3://b/backups/orders", 3)
	}
	// an unfinished folder written just now, one written long ago
	young := filepath.Join(root, "hourly", "Y", "data")
	os.MkdirAll(young, 0o755)
	os.WriteFile(filepath.Join(young, "part-00000.json.gz"), []byte("x"), 0o644)
	old := filepath.Join(root, "hourly", "O", "data")
	os.MkdirAll(old, 0o755)
	os.WriteFile(filepath.Join(old, "part-00000.json.gz"), []byte("x"), 0o644)
	past := time.Now().Add(-48 * time.Hour)
	os.Chtimes(filepath.Join(old, "part-00000.json.gz"), past, past)
	// a note of the user's, in no snapshot
	os.WriteFile(filepath.Join(root, "README"), []byte("mine"), 0o644)

	ctx := context.Background()
	parent := store.NewLocal(root)
	open := func(url string) (store.Store, error) { return store.NewLocal(url), nil }
	opts := Options{Policy: Policy{Daily: 2, Weekly: 2}, KeepUnfinished: DefaultKeepUnfinished, DryRun: true,
		Now: at("2026-03-03T12:00:00Z"), Open: open}
	// the unfinished young folder is young against the real clock; use it
	opts.Now = time.Now()
	rep, err := Run(ctx, parent, opts)
	if err != nil {
		t.Fatal(err)
	}
	// daily 2: J, G; weekly 2: J, E
	if got := names(rep.Keep); got != "EGJ" {
		t.Errorf("dry run keeps %s, want EGJ", got)
	}
	if got := names(rep.Remove); got != "ABCDFHI" {
		t.Errorf("dry run removes %s, want ABCDFHI", got)
	}
	if names(rep.UnfinishedKept) != "Y" || names(rep.UnfinishedRemoved) != "O" {
		t.Errorf("unfinished kept %s removed %s, want Y and O", names(rep.UnfinishedKept), names(rep.UnfinishedRemoved))
	}
	if _, err := os.Stat(filepath.Join(root, "hourly", "A", snapshot.SummaryName)); err != nil {
		t.Fatalf("dry run removed something: %v", err)
	}

	opts.DryRun = false
	var order []string
	opts.Removing = func(url string) { order = append(order, filepath.Base(url)) }
	if rep, err = Run(ctx, parent, opts); err != nil {
		t.Fatal(err)
	}
	if rep.FilesRemoved != 7*5+1 {
		t.Errorf("%d files removed, want %d", rep.FilesRemoved, 7*5+1)
	}
	left, _ := parent.List(ctx, "")
	want := []string{"README", "hourly/E/", "hourly/G/", "hourly/J/", "hourly/Y/"}
	for _, n := range left {
		ok := false
		for _, w := range want {
			if strings.HasPrefix(n, w) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("left behind: %s", n)
		}
	}
	for _, gone := range []string{"A", "O"} {
		if _, err := os.Stat(filepath.Join(root, "hourly", gone)); !os.IsNotExist(err) {
			t.Errorf("folder %s still there: %v", gone, err)
		}
	}
	// again: nothing more goes; the newest is kept even by a policy of one hour
	opts.Policy = Policy{Hourly: 1}
	if rep, err = Run(ctx, parent, opts); err != nil || names(rep.Keep) != "J" || names(rep.Remove) != "EG" {
		t.Errorf("hourly 1: keep %s remove %s (%v)", names(rep.Keep), names(rep.Remove), err)
	}
}

// Snapshots of two backups in one folder are two groups: each keeps its
// newest.
func TestRunGroups(t *testing.T) {
	root := t.TempDir()
	makeSnapshot(t, root, "a1", at("2026-03-01T00:00:00Z"), "s3://b/backups/orders", 1)
	makeSnapshot(t, root, "a2", at("2026-03-02T00:00:00Z"), "s3://b/backups/orders", 1)
	makeSnapshot(t, root, "b1", at("2026-02-01T00:00:00Z"), "s3://b/backups/users", 1)
	rep, err := Run(context.Background(), store.NewLocal(root), Options{Policy: Policy{Last: 1}, DryRun: true, Now: at("2026-03-03T00:00:00Z"),
		Open: func(url string) (store.Store, error) { return store.NewLocal(url), nil }})
	if err != nil || names(rep.Keep) != "a2b1" || names(rep.Remove) != "a1" {
		t.Errorf("keep %s remove %s (%v)", names(rep.Keep), names(rep.Remove), err)
	}
}

func TestRunRefuses(t *testing.T) {
	open := func(url string) (store.Store, error) { return store.NewLocal(url), nil }
	ctx := context.Background()
	// a folder with backup objects in it
	root := t.TempDir()
	makeSnapshot(t, root, "s", at("2026-03-01T00:00:00Z"), "", 1)
	os.MkdirAll(filepath.Join(root, "orders"), 0o755)
	os.WriteFile(filepath.Join(root, "orders", strings.Repeat("ab", 32)), []byte("{}"), 0o644)
	if _, err := Run(ctx, store.NewLocal(root), Options{Policy: Policy{Last: 1}, Open: open}); err == nil || !strings.Contains(err.Error(), "backup object") {
		t.Errorf("backup folder: %v", err)
	}
	// an unreadable summary: nothing removed
	root = t.TempDir()
	makeSnapshot(t, root, "s1", at("2026-03-01T00:00:00Z"), "", 1)
	makeSnapshot(t, root, "s2", at("2026-03-02T00:00:00Z"), "", 1)
	os.WriteFile(filepath.Join(root, "s2", snapshot.SummaryName), []byte("{not json"), 0o644)
	if _, err := Run(ctx, store.NewLocal(root), Options{Policy: Policy{Last: 1}, Open: open}); err == nil || !strings.Contains(err.Error(), "nothing removed") {
		t.Errorf("bad summary: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "s1", snapshot.SummaryName)); err != nil {
		t.Errorf("s1 touched: %v", err)
	}
	if _, err := Run(ctx, store.NewLocal(root), Options{Open: open}); err == nil {
		t.Error("empty policy: no error")
	}
}
