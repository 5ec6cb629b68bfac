package history

import (
	"testing"

	"github.com/dynasnap/dynasnap/internal/item"
)

func TestCompare(t *testing.T) {
	mk := func(s string) item.Item {
		it, err := item.Unmarshal([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	vs := []Change{
		{VersionID: "5", item: mk(`{"pk":{"S":"a"},"n":{"N":"1"}}`)},
		{VersionID: "4", Event: Remove},
		{VersionID: "3", item: mk(`{"pk":{"S":"a"},"n":{"N":"2"},"new":{"BOOL":true}}`)},
		{VersionID: "2", item: mk(`{"pk":{"S":"a"},"n":{"N":"1"},"old":{"S":"x"}}`)},
		{VersionID: "1", item: mk(`{"pk":{"S":"a"},"n":{"N":"1.0"},"old":{"S":"x"}}`)},
	}
	Compare(vs)
	want := []struct {
		event                   string
		added, removed, changed string
	}{
		{Insert, "[n pk]", "[]", "[]"},
		{Remove, "[]", "[]", "[]"},
		{Modify, "[new]", "[old]", "[n]"},
		{Modify, "[]", "[]", "[]"}, // 1.0 -> 1 is no change to DynamoDB
		{Insert, "[n old pk]", "[]", "[]"},
	}
	for i, w := range want {
		v := vs[i]
		got := []string{v.Event, fmtList(v.Added), fmtList(v.Removed), fmtList(v.Changed)}
		if got[0] != w.event || got[1] != w.added || got[2] != w.removed || got[3] != w.changed {
			t.Errorf("version %s: got %v, want %v", v.VersionID, got, w)
		}
	}
}

func fmtList(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}
