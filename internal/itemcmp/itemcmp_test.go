package itemcmp

import (
	"strconv"
	"strings"
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

// referenceNormalize is the first, allocation-heavy NormalizeNumber: the
// model the append-based one is held to.
func referenceNormalize(s string) string {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil {
			return s
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= len(frac)
	if digits == "" {
		return "0"
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	sign := ""
	if neg {
		sign = "-"
	}
	return sign + trimmed + "e" + strconv.Itoa(exp)
}

func FuzzNormalizeNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "1.50", "100", "0.0010", "+1e-3", "1E+2", "00.00", "10.01", "-0.000100e7", "5", "120.0300"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := NormalizeNumber(s), referenceNormalize(s); got != want {
			t.Fatalf("NormalizeNumber(%q) = %q, the reference %q", s, got, want)
		}
	})
}

func TestCanonicalMatchesNormalizedMarshal(t *testing.T) {
	it, err := item.Unmarshal([]byte(`{"k":{"S":"x"},"n":{"N":"-01.500"},"ns":{"NS":["10","9.0","1e1"]},"ss":{"SS":["b","a","c"]},"bs":{"BS":["Ag==","AQ=="]},"l":{"L":[{"N":"2.0"},{"SS":["z","y"]}]},"m":{"M":{"n":{"N":"0.0"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Canonical(it)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"bs":{"BS":["AQ==","Ag=="]},"k":{"S":"x"},"l":{"L":[{"N":"2e0"},{"SS":["y","z"]}]},"m":{"M":{"n":{"N":"0"}}},"n":{"N":"-15e-1"},"ns":{"NS":["1e1","1e1","9e0"]},"ss":{"SS":["a","b","c"]}}`
	if string(got) != want {
		t.Fatalf("Canonical:\n got %s\nwant %s", got, want)
	}
}
