package audit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/memsource"
)

// fakeTable is a table of items by pk, scanned in one segment per call
// of segment 0 (the others empty), and read by GetItem.
type fakeTable struct {
	mu    sync.Mutex
	items map[string]item.Item
	// onScan runs once, after the scan read the items: a change made
	// during the scan.
	onScan func()
	gets   []string
}

func (f *fakeTable) Scan(ctx context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	f.mu.Lock()
	out := &dynamodb.ScanOutput{}
	if *in.Segment == 0 {
		for _, it := range f.items {
			out.Items = append(out.Items, it)
		}
	}
	hook := f.onScan
	f.onScan = nil
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return out, nil
}

func (f *fakeTable) GetItem(ctx context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pk := in.Key["pk"].(*types.AttributeValueMemberS).Value
	f.gets = append(f.gets, pk)
	return &dynamodb.GetItemOutput{Item: f.items[pk]}, nil
}

func img(pk string, v int) item.Item {
	it, _ := item.Unmarshal([]byte(fmt.Sprintf(`{"pk":{"S":%q},"v":{"N":"%d"}}`, pk, v)))
	return it
}

// TestWindowRule: an item matches any state of its key in [scan start −
// skew, now], the state at the window's start included, and nothing older;
// a key the scan did not return matches when absent at some moment of the
// window; what does not match is read again before it is drift.
func TestWindowRule(t *testing.T) {
	ctx := context.Background()
	src := memsource.New("b")
	loc := layout.TableLocation("b", "p", "t")
	ks, _ := keyschema.Parse("pk:S")
	now := time.Now()
	old, recent := now.Add(-time.Hour), now.Add(-10*time.Second)
	put := func(pk string, v int, at time.Time) {
		id, _ := item.KeyID(img(pk, v), "pk")
		b, _ := item.Marshal(img(pk, v))
		src.Put(loc.ObjectKey(id), b, at)
	}
	del := func(pk string, at time.Time) {
		id, _ := item.KeyID(img(pk, 0), "pk")
		src.Delete(loc.ObjectKey(id), at)
	}
	table := &fakeTable{items: map[string]item.Item{}}
	set := func(pk string, v int) { table.items[pk] = img(pk, v) }

	put("same", 1, old)
	set("same", 1)
	put("stale", 1, old) // the backup missed v2 an hour ago
	set("stale", 2)
	put("older", 1, old) // the table still holds v1, the backup v2 since 10s: different
	put("older", 2, recent)
	set("older", 1)
	put("gone", 1, old) // deleted from the table, the backup never knew: extra
	put("deleted", 1, old)
	del("deleted", recent) // deleted in both
	set("new", 1)          // never backed up: missing
	put("during", 1, old)  // changed during the scan, backed up just after it
	set("during", 1)
	table.onScan = func() {
		table.mu.Lock()
		table.items["during"] = img("during", 2)
		delete(table.items, "same") // deleted during the scan, after the scan read it
		table.mu.Unlock()
		put("during", 2, time.Now())
		del("same", time.Now())
	}

	r, err := Run(ctx, src, table, Options{Table: "t", Schema: ks, Source: loc, Segments: 4, Fetchers: 4})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range r.Drift {
		k, _ := item.Unmarshal(d.Key)
		got[k["pk"].(*types.AttributeValueMemberS).Value] = d.Kind
	}
	want := map[string]string{"stale": Different, "older": Different, "gone": Extra, "new": Missing}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("drift %v, want %v", got, want)
	}
	if r.Missing != 1 || r.Different != 2 || r.Extra != 1 || !r.Drifted() {
		t.Fatalf("counts: %+v", r)
	}
	// Every drifted key was read again first; the keys changed during the
	// scan may have been too (the walk can list them before the change,
	// and any segment's Scan may run the change first).
	slices.Sort(table.gets)
	gets := slices.DeleteFunc(slices.Clone(table.gets), func(k string) bool { return k == "during" || k == "same" })
	if fmt.Sprint(gets) != "[gone new older stale]" {
		t.Fatalf("GetItem before calling drift: %v", table.gets)
	}
	for _, d := range r.Drift {
		if (d.NewestBackupTime == nil) != (d.Kind == Missing) {
			t.Errorf("%s: newestBackupTime %v", d.Key, d.NewestBackupTime)
		}
	}
}

func TestSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		n    int
		pct  float64
		want int
	}{{8, 100, 8}, {8, 0, 8}, {8, 50, 4}, {8, 10, 1}, {10, 25, 3}, {1000, 1, 10}, {3, 0.001, 1}} {
		s := Sample(c.n, c.pct, rng)
		if len(s) != c.want || !slices.IsSorted(s) || len(slices.Compact(slices.Clone(s))) != len(s) || s[len(s)-1] >= c.n {
			t.Errorf("Sample(%d, %g) = %v, want %d distinct segments", c.n, c.pct, s, c.want)
		}
	}
}

func TestETagDigest(t *testing.T) {
	b, _ := item.Marshal(img("a", 1))
	raw, _ := rawDigest(img("a", 1))
	d, ok := etagDigest(fmt.Sprintf("%x", raw))
	if !ok || d != raw {
		t.Fatalf("etag of %s", b)
	}
	for _, e := range []string{"", "abc", "d41d8cd98f00b204e9800998ecf8427e-2", "zz1d8cd98f00b204e9800998ecf8427e"} {
		if _, ok := etagDigest(e); ok {
			t.Errorf("%q read as an MD5", e)
		}
	}
}

// TestSampleExtras: a sample checks a share of the keys it did not scan
// for extras, as many as its scan's read units (at least one), and finds
// only real ones.
func TestSampleExtras(t *testing.T) {
	ctx := context.Background()
	src := memsource.New("b")
	loc := layout.TableLocation("b", "p", "t")
	ks, _ := keyschema.Parse("pk:S")
	table := &fakeTable{items: map[string]item.Item{}}
	old := time.Now().Add(-time.Hour)
	for i := range 400 {
		pk := fmt.Sprintf("k%03d", i)
		it := img(pk, 1)
		id, _ := item.KeyID(it, "pk")
		b, _ := item.Marshal(it)
		src.Put(loc.ObjectKey(id), b, old)
		if i%2 == 0 { // half of the backup's keys are extras
			table.items[pk] = it
		}
	}
	r, err := Run(ctx, src, table, Options{Table: "t", Schema: ks, Source: loc, Segments: 4, SamplePercent: 50, Fetchers: 4,
		Rand: rand.New(rand.NewPCG(3, 4))})
	if err != nil {
		t.Fatal(err)
	}
	// The fake returns every item from segment 0: scanned or not, all 200.
	if r.ExtraCheckedPercent <= 0 || r.ExtraCheckedPercent >= 100 {
		t.Fatalf("extraCheckedPercent %g", r.ExtraCheckedPercent)
	}
	for _, d := range r.Drift {
		k, _ := item.Unmarshal(d.Key)
		var n int
		fmt.Sscanf(k["pk"].(*types.AttributeValueMemberS).Value, "k%d", &n)
		if d.Kind != Extra || n%2 == 0 {
			t.Errorf("%s %s is no drift", d.Key, d.Kind)
		}
	}
	if r.Extra == 0 || int64(len(table.gets)) > r.Rechecked {
		t.Fatalf("%d extras found, %d keys read again, %d GetItems", r.Extra, r.Rechecked, len(table.gets))
	}
}
