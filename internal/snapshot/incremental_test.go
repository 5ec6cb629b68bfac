package snapshot_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

func waitNextSecond() time.Time {
	now := time.Now()
	next := now.Truncate(time.Second).Add(time.Second)
	time.Sleep(next.Sub(now) + 20*time.Millisecond)
	return next
}

// readFull reads a snapshot with its sidecar: object key -> version and item.
func readFull(t *testing.T, dir string) map[string]string {
	t.Helper()
	s, err := snapshot.Open(context.Background(), store.NewLocal(dir))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := s.EachItem(context.Background(), func(l snapshot.Line) error {
		got[l.Source.Key] = l.Source.VersionID + " " + string(l.Item)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// An incremental snapshot equals a full one at the same time, item for item,
// across puts, deletes and re-creates, and fetches only what changed.
func TestIncrementalEqualsFull(t *testing.T) {
	c := testenv.Clients(t)
	cl := c.S3()
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "bk", "inc")
	mk := func(i int, v string) item.Item {
		return must(item.Unmarshal([]byte(fmt.Sprintf(`{"pk":{"S":"k%03d"},"v":{"S":%q}}`, i, v))))
	}
	keys := map[int]string{}
	var first []item.Item
	for i := 0; i < 200; i++ {
		first = append(first, mk(i, "one"))
	}
	for i, k := range putMany(t, cl, src, first, "pk") {
		keys[i] = k
	}
	t1 := waitNextSecond().Add(-time.Second)
	base := filepath.Join(t.TempDir(), "base")
	if _, err := snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(base), snapshot.Options{Source: src, At: t1}); err != nil {
		t.Fatal(err)
	}
	del := func(i int) {
		if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[i])}); err != nil {
			t.Fatal(err)
		}
	}
	changed := 0
	for i := 0; i < 10; i++ { // modified
		put(t, cl, src, mk(i, "two"), "pk")
		changed++
	}
	for i := 10; i < 20; i++ { // deleted
		del(i)
	}
	for i := 20; i < 25; i++ { // deleted, then re-created with the same body
		del(i)
		put(t, cl, src, mk(i, "one"), "pk")
		changed++
	}
	for i := 200; i < 205; i++ { // new
		keys[i] = put(t, cl, src, mk(i, "new"), "pk")
		changed++
	}
	t2 := waitNextSecond().Add(-time.Second)  // the last whole second of the changes
	put(t, cl, src, mk(30, "after t2"), "pk") // after the snapshot time: ignored by both

	full := filepath.Join(t.TempDir(), "full")
	if _, err := snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(full), snapshot.Options{Source: src, At: t2}); err != nil {
		t.Fatal(err)
	}
	b, err := snapshot.Open(ctx, store.NewLocal(base))
	if err != nil {
		t.Fatal(err)
	}
	inc := filepath.Join(t.TempDir(), "inc")
	res, err := snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(inc), snapshot.Options{Source: src, At: t2, Base: b, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	want, got := readFull(t, full), readFull(t, inc)
	if len(want) != 195 || len(got) != len(want) {
		t.Fatalf("full has %d items, incremental %d", len(want), len(got))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: incremental %q, full %q", k, got[k], v)
		}
	}
	if res.Fetched != int64(changed) || res.Reused != 195-int64(changed) {
		t.Errorf("fetched %d, reused %d; want %d fetched", res.Fetched, res.Reused, changed)
	}
	s, _ := snapshot.Open(ctx, store.NewLocal(inc))
	if !strings.HasSuffix(s.Summary.Dynasnap.Base, "base") {
		t.Errorf("summary does not record the base: %q", s.Summary.Dynasnap.Base)
	}

	// Refused: a base of another source, or a base later than --at.
	other := layout.TableLocation(bucket, "bk", "other")
	if _, err := snapshot.Run(ctx, s3source.New(cl, other.Bucket), store.NewLocal(t.TempDir()), snapshot.Options{Source: other, At: t2, Base: b}); err == nil || !strings.Contains(err.Error(), "is of") {
		t.Errorf("base of another source: %v", err)
	}
	if _, err := snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(t.TempDir()), snapshot.Options{Source: src, At: t1.Add(-time.Hour), Base: b}); err == nil || !strings.Contains(err.Error(), "later than") {
		t.Errorf("later base: %v", err)
	}
}
