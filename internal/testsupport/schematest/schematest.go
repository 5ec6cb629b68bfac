// Package schematest checks values against the JSON schemas in schemas/,
// so a test shows that another program can read what dynasnap writes from
// the schemas alone.
package schematest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Base is the schemas' $id prefix.
const Base = "https://dynasnap.dev/schemas/"

// Compiler loads every schema under schemas/, formats asserted.
func Compiler(t testing.TB) *jsonschema.Compiler {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "schemas")
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	files, _ := filepath.Glob(filepath.Join(dir, "*.schema.json"))
	if len(files) == 0 {
		t.Fatalf("no schemas under %s", dir)
	}
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(r)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := c.AddResource(Base+filepath.Base(f), doc); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Check marshals v and validates it against schemas/<name>.schema.json.
func Check(t testing.TB, c *jsonschema.Compiler, name string, v any) {
	t.Helper()
	s, err := c.Compile(Base + name + ".schema.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("%s: %s: %v", name, b, err)
	}
}
