package journal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/testsupport/membucket"
	"github.com/dynasnap/dynasnap/internal/testsupport/memsource"
)

// failingSource fails the listings of names from a prefix on, once.
type failingSource struct {
	src  *memsource.Bucket
	from string
	fail bool
}

func (s *failingSource) Bucket() string { return s.src.Bucket() }
func (s *failingSource) Read(ctx context.Context, key, versionID string, buf *bytes.Buffer) error {
	return s.src.Read(ctx, key, versionID, buf)
}

var errInjected = errors.New("injected")

func (s *failingSource) List(ctx context.Context, prefix string, after history.Marker, max int32) (*history.Page, error) {
	if s.fail && prefix >= s.from {
		return nil, errInjected
	}
	return s.src.List(ctx, prefix, after, max)
}

// TestFromItemsResumes: an import stopped half-way goes on from the first
// shard it had not stored, with the cut it fixed, and gives the journal
// the first run would have: every version, at every second.
func TestFromItemsResumes(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	vs := memsource.New("membucket")
	schema := keyschema.Schema{Hash: keyschema.Attr{Name: "pk", Type: "S"}}
	type ver struct {
		at   time.Time
		body string // "" deleted
	}
	model := map[string][]ver{}
	for s := range 60 {
		at := start.Add(time.Duration(s) * time.Second)
		for k := range 8 {
			key := fmt.Sprintf(`{"pk":{"S":"k%d-%d"}}`, (s*7+k)%40, k%2)
			id := itemID(t, key)
			if (s+k)%5 == 0 && len(model[id]) > 0 {
				vs.Delete("p/t/"+id, at)
				model[id] = append(model[id], ver{at: at})
				continue
			}
			body := fmt.Sprintf(`{"pk":{"S":"k%d-%d"},"v":{"N":"%d"}}`, (s*7+k)%40, k%2, s)
			vs.Put("p/t/"+id, []byte(body), at)
			model[id] = append(model[id], ver{at: at, body: body})
		}
	}
	now = start.Add(2 * time.Minute)
	b := membucket.New()
	b.Now = func() time.Time { return now }
	src := &failingSource{src: vs, from: "p/t/80", fail: true}
	imp := &journal.FromItems{Bucket: b, Versions: src, Dir: "p/t/", Format: journal.ItemsDynasnap, Schema: schema, Lag: time.Second,
		Clock: fakeClock{&now}, Tool: "test", Concurrency: 4}
	if _, err := imp.Run(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("first run: %v, want the injected failure", err)
	}
	now = now.Add(time.Minute) // a later rerun keeps the first run's cut
	src.fail = false
	rep, err := imp.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ShardsResumed != 0x80 || rep.Cut != start.Add(2*time.Minute-time.Second) {
		t.Fatalf("resumed %d shards (want 128), cut %s: %+v", rep.ShardsResumed, rep.Cut, rep)
	}
	for _, k := range b.Keys() {
		if strings.Contains(k, "/journal/items/run-") || strings.HasSuffix(k, "checkpoint.json") {
			t.Fatalf("%s left after the import", k)
		}
	}
	for s := -1; s < 62; s++ {
		at := start.Add(time.Duration(s) * time.Second)
		want := map[string]string{}
		for id, vv := range model {
			for _, v := range vv {
				if !v.at.After(at) {
					want[id] = v.body
				}
			}
			if want[id] == "" {
				delete(want, id)
			}
		}
		if d := diffStates(want, readAt(t, b, "p/t/", at, &now, 0)); d != "[]" {
			t.Fatalf("state at %s: %s", at, d)
		}
	}
}
