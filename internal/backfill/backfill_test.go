package backfill

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/backuptest"
)

func init() { backoff.Base = time.Millisecond }

func checkBucket(t *testing.T, b *backuptest.Bucket, tbl *fakeTable, wantVersions int) {
	t.Helper()
	loc := layout.TableLocation("bkt", "pre", "T")
	if n := len(b.Keys()); n != len(tbl.items) {
		t.Fatalf("%d objects, want %d", n, len(tbl.items))
	}
	for _, it := range tbl.items {
		id, _ := item.KeyID(it, "id")
		vs := b.Versions(loc.ObjectKey(id))
		if len(vs) != wantVersions {
			t.Fatalf("item %v: %d versions, want %d", it["id"], len(vs), wantVersions)
		}
		want, _ := item.Marshal(it)
		if string(vs[len(vs)-1].Body) != string(want) {
			t.Fatalf("body %s, want %s", vs[0].Body, want)
		}
	}
}

func TestBackfillWithThrottling(t *testing.T) {
	tbl := newFakeTable(1000)
	tbl.throttleEvery = 3
	b := backuptest.New("bkt")
	st, err := Run(context.Background(), tbl, b, Options{Table: "T", Dest: layout.Location{Bucket: "bkt", Prefix: "pre"},
		Segments: 4, Concurrency: 8, PageSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	if st.Scanned != 1000 || st.Written != 1000 || st.SegmentsDone != 4 {
		t.Fatalf("stats %+v", st)
	}
	if tbl.throttle == 0 {
		t.Fatal("the fake never throttled")
	}
	checkBucket(t, b, tbl, 1)

	// A second run finds every object there and writes nothing.
	st, err = Run(context.Background(), tbl, b, Options{Table: "T", Dest: layout.Location{Bucket: "bkt", Prefix: "pre"}, Segments: 3})
	if err != nil || st.Written != 0 || st.Existing != 1000 {
		t.Fatalf("rerun: %+v %v", st, err)
	}
	// --overwrite writes a new version of each.
	st, err = Run(context.Background(), tbl, b, Options{Table: "T", Dest: layout.Location{Bucket: "bkt", Prefix: "pre"}, Overwrite: true})
	if err != nil || st.Written != 1000 {
		t.Fatalf("overwrite: %+v %v", st, err)
	}
	checkBucket(t, b, tbl, 2)
}

// A run that dies mid-way resumes from its checkpoint: finished segments
// are not scanned again, the others go on from their last written page.
func TestBackfillResumes(t *testing.T) {
	tbl := newFakeTable(1000)
	tbl.failAt = 25
	b := backuptest.New("bkt")
	cp := filepath.Join(t.TempDir(), "cp.json")
	opts := Options{Table: "T", Dest: layout.Location{Bucket: "bkt", Prefix: "pre"}, Segments: 4, Concurrency: 4, PageSize: 20, Checkpoint: cp}
	st, err := Run(context.Background(), tbl, b, opts)
	if err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("first run: %v", err)
	}
	first := st.Written
	if first == 0 || first == 1000 {
		t.Fatalf("first run wrote %d", first)
	}
	tbl.failAt = 0
	st, err = Run(context.Background(), tbl, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st.Written+first != 1000 {
		t.Fatalf("resumed run wrote %d after %d: want 1000 in all", st.Written, first)
	}
	// At most one page per unfinished segment is read twice.
	if st.Scanned > 1000-first+int64(opts.Segments)*int64(opts.PageSize) {
		t.Fatalf("resumed run scanned %d items after %d written", st.Scanned, first)
	}
	checkBucket(t, b, tbl, 1)
	// A checkpoint of another shape is refused.
	opts.Segments = 5
	if _, err := Run(context.Background(), tbl, b, opts); err == nil || !strings.Contains(err.Error(), "segments") {
		t.Fatalf("mismatched checkpoint: %v", err)
	}
}

func TestBackfillRefusesUnversionedBucket(t *testing.T) {
	b := backuptest.New("bkt")
	b.Unversioned = true
	_, err := Run(context.Background(), newFakeTable(10), b, Options{Table: "T", Dest: layout.Location{Bucket: "bkt"}})
	if err == nil || !strings.Contains(err.Error(), "versioning") || len(b.Keys()) != 0 {
		t.Fatalf("error %v, %d objects", err, len(b.Keys()))
	}
}

func TestReadRateCap(t *testing.T) {
	tbl := newFakeTable(400)
	b := backuptest.New("bkt")
	// Each 50-item page costs 5 units; 40 units at 100/s take >= 0.35 s
	// (the first page is free of waiting).
	start := time.Now()
	st, err := Run(context.Background(), tbl, b, Options{Table: "T", Dest: layout.Location{Bucket: "bkt"}, Segments: 2, PageSize: 50, ReadRate: 100})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("%.0f units in %v: the cap did not hold", st.Capacity, d)
	}
}

func TestRetryGivesUpOnOtherErrors(t *testing.T) {
	calls := 0
	r := &run{opts: Options{Retries: 5}}
	err := r.retry(context.Background(), func() error { calls++; return errors.New("boom") })
	if err == nil || calls != 1 {
		t.Fatalf("%v after %d calls", err, calls)
	}
}
