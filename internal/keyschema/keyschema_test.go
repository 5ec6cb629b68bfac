package keyschema

import (
	"testing"

	"github.com/dynasnap/dynasnap/internal/item"
)

func TestInfer(t *testing.T) {
	it, _ := item.Unmarshal([]byte(`{"pk":{"S":"a"},"sk":{"N":"1"},"x":{"S":"a"},"y":{"N":"1"}}`))
	id, _ := item.KeyID(it, "sk", "pk")
	attrs, amb, err := Infer(it, "backups/t/"+id)
	if err != nil || !amb || len(attrs) != 2 || attrs[0].Name != "pk" || attrs[1].Name != "sk" || attrs[1].Type != "N" {
		t.Fatalf("Infer = %v %v %v", attrs, amb, err)
	}
	id1, _ := item.KeyID(it, "y")
	attrs, amb, err = Infer(it, id1)
	if err != nil || amb || len(attrs) != 1 || attrs[0].Name != "y" {
		t.Fatalf("Infer single = %v %v %v", attrs, amb, err)
	}
	if _, _, err := Infer(it, "0000"); err == nil {
		t.Fatal("no match accepted")
	}
}

func TestParse(t *testing.T) {
	s, err := Parse("pk:S,sk:N")
	if err != nil || s.Hash.Name != "pk" || s.Range.Type != "N" || s.String() != "pk:S,sk:N" {
		t.Fatalf("Parse = %+v %v", s, err)
	}
	for _, bad := range []string{"pk", "pk:X", "a:S,b:S,c:S", ":S"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
