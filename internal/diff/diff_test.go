package diff_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/diff"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/memsource"
)

type write struct {
	at  int // seconds
	img string
}

// The window is [from, to): a change stamped exactly from is in it, one
// stamped exactly to is not; and the snapshot at from (LastModified <=
// from) with the window's changes applied is the state just before to
// (the snapshot at to - 1s), whatever happened inside the window: changes
// at from, changes undone, items created and deleted.
func TestWindowAndRoundTrip(t *testing.T) {
	from, to := time.Unix(1000, 0).UTC(), time.Unix(2000, 0).UTC()
	keys := map[string][]write{
		"at-from":           {{500, "1"}, {1000, "2"}},
		"created-at-from":   {{1000, "1"}, {1500, ""}},
		"changed-back":      {{500, "x"}, {1000, "y"}, {1500, "x"}},
		"rewritten":         {{500, "1"}, {1200, "1"}},
		"inserted":          {{1500, "1"}},
		"removed":           {{500, "1"}, {1999, ""}},
		"at-to":             {{500, "1"}, {2000, "2"}},
		"untouched":         {{500, "1"}},
		"created-deleted-1": {{1000, "1"}, {1000, ""}},
		"recreated":         {{500, "1"}, {1200, ""}, {1300, "2"}},
	}
	b := memsource.New("b")
	src := layout.TableLocation("b", "p", "t")
	img := func(k, v string) item.Item {
		return must(item.Unmarshal([]byte(fmt.Sprintf(`{"pk":{"S":%q},"v":{"S":%q}}`, k, v))))
	}
	objKey := map[string]string{}
	for k, ws := range keys {
		id, _ := item.KeyID(img(k, ""), "pk")
		objKey[k] = src.ObjectKey(id)
		for _, w := range ws {
			at := time.Unix(int64(w.at), 0)
			if w.img == "" {
				b.Delete(objKey[k], at)
			} else {
				body, _ := item.Marshal(img(k, w.img))
				b.Put(objKey[k], body, at)
			}
		}
	}
	state := func(k string, t time.Time) string { // LastModified <= t, the last write of a second wins
		v := ""
		for _, w := range keys[k] {
			if !time.Unix(int64(w.at), 0).After(t) {
				v = w.img
			}
		}
		return v
	}
	var out bytes.Buffer
	st, err := diff.Run(context.Background(), b, &out, diff.Options{Source: src, From: from, To: to, ClockSkew: -1})
	if err != nil {
		t.Fatal(err)
	}
	table := map[string]string{}
	for k := range keys {
		if v := state(k, from); v != "" {
			table[k] = v
		}
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var d struct {
			Metadata struct{ WriteTimestampMicros struct{ N string } }
			Keys     struct{ Pk struct{ S string } }
			NewImage *struct{ V struct{ S string } }
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil || d.Metadata.WriteTimestampMicros.N == "" {
			t.Fatalf("line %s: %v", l, err)
		}
		k := d.Keys.Pk.S
		listed[k] = true
		if d.NewImage == nil {
			delete(table, k)
		} else {
			table[k] = d.NewImage.V.S
		}
	}
	for _, k := range []string{"at-from", "created-at-from", "changed-back", "inserted", "removed", "created-deleted-1", "recreated"} {
		if !listed[k] {
			t.Errorf("%s not listed", k)
		}
	}
	for _, k := range []string{"at-to", "untouched", "rewritten"} {
		if listed[k] {
			t.Errorf("%s listed", k)
		}
	}
	for k := range keys {
		if want := state(k, to.Add(-time.Second)); table[k] != want {
			t.Errorf("%s: snapshot at from + changes = %q, want the state just before to %q", k, table[k], want)
		}
	}
	if st.Rewritten != 1 || st.Inserted != 1 {
		t.Errorf("stats %+v", st)
	}
	// NEW_IMAGE leaves OldImage out.
	out.Reset()
	if _, err := diff.Run(context.Background(), b, &out, diff.Options{Source: src, From: from, To: to, ClockSkew: -1, View: diff.NewImage}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "OldImage") || !strings.Contains(out.String(), "NewImage") {
		t.Errorf("NEW_IMAGE view: %s", out.String())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
