package filter

import (
	"strings"
	"testing"

	"github.com/dynasnap/dynasnap/internal/item"
)

func mustItem(t *testing.T, s string) item.Item {
	t.Helper()
	it, err := item.Unmarshal([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func TestWhere(t *testing.T) {
	it := mustItem(t, `{"pk":{"S":"acme#1"},"tenant":{"S":"acme"},"updated":{"N":"1700000001"},"price":{"N":"9.5"},
		"tags":{"SS":["a","b"]},"nested":{"M":{"x":{"L":[{"N":"1"},{"BOOL":true}]}}},"bin":{"B":"AAE="},"nul":{"NULL":true}}`)
	cases := map[string]bool{
		`item.tenant == "acme" && item.updated > 1700000000`: true,
		`item.tenant == "other"`:                             false,
		`item.price > 9 && item.price < 10.0`:                true,
		`"b" in item.tags`:                                   true,
		`item.nested.x[1] == true`:                           true,
		`item.bin == b"\x00\x01"`:                            true,
		`item.nul == null`:                                   true,
		`item.missing == "x"`:                                false,
		`has(item.tenant) && item.pk.startsWith("acme#")`:    true,
	}
	for expr, want := range cases {
		f, err := New(expr, "", "")
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		got, err := f.Match(it)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", expr, got, err, want)
		}
	}
}

func TestBadExpressionNamesThePosition(t *testing.T) {
	_, err := New(`item.tenant == "acme" &&& true`, "", "")
	if err == nil || !strings.Contains(err.Error(), "1:") {
		t.Fatalf("want an error with a position, got %v", err)
	}
	if _, err := New(`item.tenant`, "", ""); err != nil {
		t.Fatalf("dyn output should be accepted at compile time: %v", err)
	}
	if _, err := New(`1 + 2`, "", ""); err == nil {
		t.Fatal("a non-boolean expression was accepted")
	}
}

func TestKeyPrefix(t *testing.T) {
	acme := mustItem(t, `{"pk":{"S":"acme#7"},"v":{"N":"1"}}`)
	other := mustItem(t, `{"pk":{"S":"globex#7"},"v":{"N":"1"}}`)
	for _, spec := range []struct{ prefix, pk string }{{"pk=acme#", ""}, {"acme#", "pk"}} {
		f, err := New("", spec.prefix, spec.pk)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := f.Match(acme); !ok {
			t.Errorf("%v: acme not selected", spec)
		}
		if ok, _ := f.Match(other); ok {
			t.Errorf("%v: globex selected", spec)
		}
	}
	if _, err := New("", "acme#", ""); err == nil {
		t.Error("a bare prefix without a known partition key was accepted")
	}
	f, _ := New("item.v == 2", "pk=acme#", "")
	if ok, _ := f.Match(acme); ok {
		t.Error("both conditions must hold")
	}
}
