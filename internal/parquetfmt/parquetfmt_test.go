package parquetfmt

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/dynasnap/dynasnap/internal/item"
)

// corpus reads testdata/items: one item per line, every attribute type.
func corpus(t *testing.T) [][]byte {
	t.Helper()
	files, err := filepath.Glob("../../testdata/items/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test items: %v", err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				it, err := item.Unmarshal(line)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				canon, _ := item.Marshal(it)
				out = append(out, canon)
			}
		}
	}
	return out
}

func writeFile(t *testing.T, l *Layout, bodies [][]byte, rowGroup int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, l, WriterOptions{Compression: "zstd", RowGroupBytes: rowGroup})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range bodies {
		if err := w.Write(b, Meta{ObjectKey: fmt.Sprintf("t/%04d", i), VersionID: "v", LastModified: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readItems(t *testing.T, data []byte) [][]byte {
	t.Helper()
	f, err := Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		it, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, it)
	}
}

// TestItemColumnRoundTrip: every attribute type comes back byte for byte,
// across several row groups, under a schema that types every attribute.
func TestItemColumnRoundTrip(t *testing.T) {
	bodies := corpus(t)
	var many [][]byte
	for i := 0; i < 300; i++ {
		many = append(many, bodies...)
	}
	ts := &TableSchema{Key: []KeyAttr{{"pk", "S"}}, Attributes: []Attribute{
		{Name: "sk", Type: "decimal(38,0)"}, {Name: "n", Type: "decimal(38,37)"}, {Name: "nexp", Type: "double"},
		{Name: "s", Type: "string"}, {Name: "b", Type: "binary"}, {Name: "emptyb", Type: "binary"},
		{Name: "ss", Type: "array<string>"}, {Name: "ns", Type: "array<double>"}, {Name: "bs", Type: "array<binary>"},
		{Name: "m", Type: "json"}, {Name: "l", Type: "json"}, {Name: "null", Type: "string"}, {Name: "t", Type: "boolean"},
		{Name: "😀 attr", Type: "string"}, {Name: "控制", Type: "array<string>"}, {Name: "a", Type: "json"},
	}}
	l, err := NewLayout(ts)
	if err != nil {
		t.Fatal(err)
	}
	data := writeFile(t, l, many, 4096)
	got := readItems(t, data)
	if len(got) != len(many) {
		t.Fatalf("%d items back, want %d", len(got), len(many))
	}
	for i := range many {
		if !bytes.Equal(got[i], many[i]) {
			t.Fatalf("item %d:\n got %s\nwant %s", i, got[i], many[i])
		}
	}
	f, _ := Open(bytes.NewReader(data), int64(len(data)))
	if len(f.RowGroups()) < 2 {
		t.Errorf("%d row groups, want several with a 4 KiB limit", len(f.RowGroups()))
	}
	back, err := SchemaOf(f)
	if err != nil {
		t.Fatal(err)
	}
	if back.Attributes[0].Name != "pk" || back.Attributes[0].Column != "pk" {
		t.Errorf("recorded schema starts with %+v", back.Attributes[0])
	}
	// The typed values, row by row, through the generic reader.
	rows := parquet.NewReader(f)
	type rec map[string]any
	var first rec = rec{}
	if err := rows.Read(&first); err != nil {
		t.Fatal(err)
	}
	t.Logf("first row: %v", first)
}

func TestInfer(t *testing.T) {
	ts := &TableSchema{}
	_ = ts
	bodies := corpus(t)
	it, _ := item.Unmarshal(bodies[0])
	key, _ := item.KeyID(it, "pk", "sk")
	s, err := Infer("t", []Sample{{Item: it, ObjectKey: "t/" + key}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pk": "string", "sk": "decimal(38,0)", "s": "string", "n": "decimal(38,36)", "nexp": "double",
		"b": "binary", "ss": "array<string>", "ns": "array<decimal(38,1)>", "bs": "array<binary>", "m": "json", "l": "json", "t": "boolean"}
	got := map[string]string{}
	for _, a := range s.Attributes {
		got[a.Name] = a.Type
	}
	for k, v := range want {
		if k == "ns" {
			v = "array<decimal(38,1)>"
		}
		if got[k] != v {
			t.Errorf("%s: inferred %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["null"]; ok {
		t.Errorf("an attribute seen only as NULL got a column")
	}
	if len(s.Key) != 2 || s.Key[0].Name != "pk" || s.Key[1].Type != "N" {
		t.Errorf("key %+v", s.Key)
	}
}
