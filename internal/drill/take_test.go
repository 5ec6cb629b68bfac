package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/memsource"
)

func TestDestination(t *testing.T) {
	src := layout.Location{Bucket: "b", Prefix: "backups/orders"}
	at := time.Date(2026, 11, 26, 9, 30, 5, 0, time.UTC)
	for _, c := range []struct {
		out, folder, want, flag string
	}{
		{out: "s3://x/y", folder: "s3://x/z", want: "s3://x/y"},
		{folder: "s3://x/snaps", want: "s3://x/snaps/drill-20261126T093005Z"},
		{folder: "snaps", want: filepath.Join("snaps", "drill-20261126T093005Z")},
		{out: "s3://b/backups/orders/x", flag: "--out"},
		{out: "s3://b/backups/other", flag: "--out"},
		{folder: "s3://b/backups", flag: "--out"},
		{folder: "s3://", flag: "--snapshots"},
	} {
		got, temp, err := Destination(src, c.out, c.folder, at)
		var de *DestinationError
		switch {
		case c.flag != "" && (!errors.As(err, &de) || de.Flag != c.flag):
			t.Errorf("Destination(%q, %q): want a %s error, got %q %v", c.out, c.folder, c.flag, got, err)
		case c.flag == "" && (err != nil || got != c.want || temp != ""):
			t.Errorf("Destination(%q, %q) = %q %q %v, want %q", c.out, c.folder, got, temp, err, c.want)
		}
	}
	got, temp, err := Destination(src, "", "", at)
	if err != nil || temp == "" || got != filepath.Join(temp, "snapshot") {
		t.Fatalf("no folder: %q %q %v", got, temp, err)
	}
	os.RemoveAll(temp)
}

func TestTakeSnapshot(t *testing.T) {
	src := layout.Location{Bucket: "b", Prefix: "backups/orders"}
	b := memsource.New("b")
	long := time.Now().Add(-time.Hour)
	for i := range 3 {
		it, err := item.Unmarshal([]byte(fmt.Sprintf(`{"pk":{"S":"k%d"}}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		ck, err := item.CanonicalKey(it)
		if err != nil {
			t.Fatal(err)
		}
		b.Put(src.ObjectKey(item.ObjectID(ck)), []byte(fmt.Sprintf(`{"pk":{"S":"k%d"}}`, i)), long)
	}
	folder := t.TempDir()
	var log strings.Builder
	open := func(url string) (store.Store, error) { return store.NewLocal(url), nil }
	taken, err := TakeSnapshot(context.Background(), b, TakeOptions{Source: src, Folder: folder, Open: open, Tool: "test", Log: LineLogger(&log)})
	if err != nil {
		t.Fatal(err)
	}
	if taken.Temp != "" || taken.Snapshot.Summary.ItemCount != 3 || taken.Took.Human == "" {
		t.Errorf("taken: temp %q, %d items, took %+v", taken.Temp, taken.Snapshot.Summary.ItemCount, taken.Took)
	}
	dirs, _ := filepath.Glob(filepath.Join(folder, "drill-*"))
	if len(dirs) != 1 || !strings.Contains(log.String(), "taking a snapshot of s3://b/backups/orders") {
		t.Errorf("folders %v, log %q", dirs, log.String())
	}

	// Refused before anything is written; a temporary folder does not outlive a failure.
	if _, err := TakeSnapshot(context.Background(), b, TakeOptions{Source: src, Out: "s3://b/backups/x", Open: open}); !errors.As(err, new(*DestinationError)) {
		t.Errorf("--out in the backup prefix: %v", err)
	}
	failing := func(string) (store.Store, error) { return nil, errors.New("no") }
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "dynasnap-drill-*"))
	if _, err := TakeSnapshot(context.Background(), b, TakeOptions{Source: src, Open: failing}); err == nil {
		t.Error("a destination that does not open: no error")
	}
	if after, _ := filepath.Glob(filepath.Join(os.TempDir(), "dynasnap-drill-*")); len(after) > len(before) {
		t.Errorf("temporary folder left: %v", after)
	}
}
