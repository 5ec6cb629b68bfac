package journal_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/testsupport/membucket"
)

// NewestOutput passes over the newer empty outputs (compaction writes one
// for every window) to the newest that holds records.
func TestNewestOutput(t *testing.T) {
	ctx := t.Context()
	b := membucket.New()
	const dir = "p/t/"
	if err := journal.EnsureDescriptor(ctx, b, dir, time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	const name = "20060102T150405.000Z"
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	put := func(level string, from, to time.Time, records int64) {
		t.Helper()
		m := journal.Manifest{FormatVersion: 1, Kind: "level", To: to, Records: records, Files: []journal.Part{}}
		folder := dir + "journal/" + level + "/" + from.Format(name) + "_" + to.Format(name) + "/"
		if level == "base" {
			m.Kind = "base"
			folder = dir + "journal/base/" + to.Format(name) + "/"
		} else {
			m.From = &from
		}
		body, _ := json.Marshal(m)
		if err := b.Put(ctx, folder+"manifest.json", body, false); err != nil {
			t.Fatal(err)
		}
	}
	put("base", time.Time{}, t0, 5)
	put("1", t0, t0.Add(time.Minute), 3)
	put("1", t0.Add(time.Minute), t0.Add(2*time.Minute), 0)
	put("1", t0.Add(2*time.Minute), t0.Add(3*time.Minute), 0)
	st, err := journal.LoadState(ctx, b, dir)
	if err != nil {
		t.Fatal(err)
	}
	from, to, ok, err := st.NewestOutput(ctx, b, 10)
	if err != nil || !ok || !from.Equal(t0) || !to.Equal(t0.Add(time.Minute)) {
		t.Fatalf("NewestOutput = %v %v %v %v", from, to, ok, err)
	}
	// Within two probes only the empty ones are read.
	if _, _, ok, err := st.NewestOutput(ctx, b, 2); ok || err != nil {
		t.Fatalf("two probes: %v %v", ok, err)
	}
}
