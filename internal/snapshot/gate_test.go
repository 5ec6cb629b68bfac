package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/dynasnap/dynasnap/internal/item"
	"os"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/memsource"
)

// The source's checks run beside the listing, but a failed check leaves
// the output folder as it was, and is the error the run reports (not the
// cancellation it caused). A passing check lets the run finish.
func TestPreflightGatesTheOutput(t *testing.T) {
	src := layout.TableLocation("b", "p", "t")
	b := memsource.New("b")
	at := time.Now().Add(-time.Hour)
	for i := range 300 {
		body := fmt.Sprintf(`{"pk":{"S":"k%d"}}`, i)
		id, err := item.KeyID(must(item.Unmarshal([]byte(body))), "pk")
		if err != nil {
			t.Fatal(err)
		}
		b.Put(src.ObjectKey(id), []byte(body), at.Add(-time.Minute))
	}
	bad := errors.New("source bucket b does not have versioning enabled")
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{{"fails at once", 0}, {"fails after the listing", 200 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := snapshot.Run(context.Background(), b, store.NewLocal(dir), snapshot.Options{Source: src, At: at, ClockSkew: -1,
				Preflight: func(ctx context.Context) error {
					time.Sleep(tc.delay)
					return bad
				}})
			if !errors.Is(err, bad) {
				t.Fatalf("got %v, want the check's error", err)
			}
			if names, _ := os.ReadDir(dir); len(names) != 0 {
				t.Errorf("a failed check left %v in the output", names)
			}
		})
	}
	dir := t.TempDir()
	res, err := snapshot.Run(context.Background(), b, store.NewLocal(dir), snapshot.Options{Source: src, At: at, ClockSkew: -1,
		Preflight: func(ctx context.Context) error { time.Sleep(50 * time.Millisecond); return nil }})
	if err != nil || res.Items != 300 {
		t.Fatalf("passing check: %v, %+v", err, res)
	}
	if _, err := os.Stat(dir + "/" + snapshot.StartedName); err != nil {
		t.Errorf("no %s: %v", snapshot.StartedName, err)
	}
}
