package parquetfmt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The shipped examples, and the schema a snapshot records, match the JSON
// Schema of the file and load; files the JSON Schema refuses do not load.
func TestSchemaFileFormat(t *testing.T) {
	c := jsonschema.NewCompiler()
	r, err := os.Open("../../schemas/table-schema.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("table-schema.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("table-schema.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, b []byte) error {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			return err
		}
		return sch.Validate(inst)
	}
	examples, _ := filepath.Glob("../../schemas/examples/*.json")
	if len(examples) == 0 {
		t.Fatal("no examples in schemas/examples")
	}
	for _, f := range examples {
		b, _ := os.ReadFile(f)
		if err := check(f, b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		ts, err := LoadSchema(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		l, err := NewLayout(ts)
		if err != nil {
			t.Fatal(err)
		}
		if err := check("resolved "+f, l.JSON()); err != nil {
			t.Errorf("resolved %s: %v\n%s", f, err, l.JSON())
		}
	}
	for _, bad := range []string{
		`{"key":[],"attributes":[]}`,
		`{"key":[{"name":"pk","type":"X"}],"attributes":[]}`,
		`{"key":[{"name":"pk","type":"S"}],"attributes":[{"name":"a","type":"decimal(39,2)"}]}`,
		`{"key":[{"name":"pk","type":"S"}],"attributes":[{"name":"a","type":"array<json>"}]}`,
		`{"key":[{"name":"pk","type":"S"}],"attributes":[{"name":"a","type":"string","column":"item"}]}`,
		`{"key":[{"name":"pk","type":"S"}],"attributes":[{"name":"a","type":"string","colum":"x"}]}`,
	} {
		if check("bad", []byte(bad)) == nil {
			t.Errorf("the JSON Schema accepts %s", bad)
		}
		if _, err := ParseSchema([]byte(bad)); err == nil {
			t.Errorf("ParseSchema accepts %s", bad)
		}
	}
}
