package itemcmp

import (
	"testing"

	"github.com/dynasnap/dynasnap/internal/item"
)

func TestNormalizeNumber(t *testing.T) {
	same := [][]string{
		{"1.50", "15E-1", "+1.5", "1.5", "0.15e1"},
		{"0", "-0", "0.000", "0e10"},
		{"100", "1e2", "1E+2", "100.0"},
		{"-0.000000000000000000000000000000000001", "-1e-36"},
	}
	for _, group := range same {
		want := NormalizeNumber(group[0])
		for _, n := range group[1:] {
			if got := NormalizeNumber(n); got != want {
				t.Errorf("NormalizeNumber(%q) = %q, want %q (as %q)", n, got, want, group[0])
			}
		}
	}
	if NormalizeNumber("1") == NormalizeNumber("10") || NormalizeNumber("1") == NormalizeNumber("-1") {
		t.Error("different numbers normalize alike")
	}
}

func TestCanonicalIgnoresSetOrderAndNumberForm(t *testing.T) {
	a, _ := item.Unmarshal([]byte(`{"k":{"S":"x"},"ns":{"NS":["2","1.0"]},"ss":{"SS":["b","a"]},"bs":{"BS":["Ag==","AQ=="]},"m":{"M":{"n":{"N":"5.00"}}}}`))
	b, _ := item.Unmarshal([]byte(`{"m":{"M":{"n":{"N":"5"}}},"ss":{"SS":["a","b"]},"ns":{"NS":["1","2"]},"bs":{"BS":["AQ==","Ag=="]},"k":{"S":"x"}}`))
	da, _ := Digest(a)
	db, _ := Digest(b)
	if da != db {
		ca, _ := Canonical(a)
		cb, _ := Canonical(b)
		t.Fatalf("equal items differ:\n%s\n%s", ca, cb)
	}
	c, _ := item.Unmarshal([]byte(`{"k":{"S":"x"},"l":{"L":[{"S":"b"},{"S":"a"}]}}`))
	d, _ := item.Unmarshal([]byte(`{"k":{"S":"x"},"l":{"L":[{"S":"a"},{"S":"b"}]}}`))
	dc, _ := Digest(c)
	dd, _ := Digest(d)
	if dc == dd {
		t.Fatal("list order must matter")
	}
}

func TestChanges(t *testing.T) {
	old, _ := item.Unmarshal([]byte(`{"k":{"S":"x"},"a":{"N":"1"},"gone":{"BOOL":true},"same":{"SS":["a","b"]}}`))
	new, _ := item.Unmarshal([]byte(`{"k":{"S":"x"},"a":{"N":"2"},"new":{"NULL":true},"same":{"SS":["b","a"]}}`))
	added, removed, changed := Changes(old, new)
	if len(added) != 1 || added[0] != "new" || len(removed) != 1 || removed[0] != "gone" || len(changed) != 1 || changed[0] != "a" {
		t.Fatalf("added %v removed %v changed %v", added, removed, changed)
	}
}
