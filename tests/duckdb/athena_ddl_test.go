package duckdb

import (
	"compress/gzip"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/parquetfmt"
)

// The Athena DDLs of JSON lines, read by DuckDB's JSON reader: each
// statement's columns are translated to DuckDB types, every field named
// by its mapping.* property (the JSON key the OpenX SerDe reads it from),
// and DuckDB reads the data with them. Every attribute comes back, with
// its value under exactly one type key and nested maps and lists as their
// DynamoDB JSON text, so the map interpretation drops nothing. (The SerDe
// itself runs only in Athena/Hive, which this machine has not.)

// duckColumns translates the columns of a JsonSerDe statement.
func duckColumns(t *testing.T, ddl string) string {
	t.Helper()
	props := map[string]string{}
	for _, m := range regexp.MustCompile(`'mapping\.([^']*)'='([^']*)'`).FindAllStringSubmatch(ddl, -1) {
		props[m[1]] = m[2]
	}
	i, j := strings.Index(ddl, "(\n"), strings.Index(ddl, "\n)\n")
	var cols []string
	for _, l := range strings.Split(ddl[i+2:j], ",\n") {
		l = regexp.MustCompile(`\s+COMMENT\s+'(?:[^'\\]|\\.)*'$`).ReplaceAllString(l, "")
		m := regexp.MustCompile("^\\s*`([^`]*)` (.*)$").FindStringSubmatch(strings.ReplaceAll(l, "\n", ""))
		if m == nil {
			t.Fatalf("column %q", l)
		}
		name := m[1]
		if k, ok := props[strings.ToLower(name)]; ok {
			name = k
		}
		typ, rest := duckType(t, strings.ReplaceAll(m[2], " ", ""), props)
		if rest != "" {
			t.Fatalf("left over %q", rest)
		}
		cols = append(cols, fmt.Sprintf("'%s': '%s'", name, strings.ReplaceAll(typ, "'", "''")))
	}
	return "{" + strings.Join(cols, ", ") + "}"
}

// duckType translates the Hive type at the start of s; it returns the rest.
func duckType(t *testing.T, s string, props map[string]string) (string, string) {
	switch {
	case strings.HasPrefix(s, "string"):
		return "VARCHAR", s[len("string"):]
	case strings.HasPrefix(s, "bigint"):
		return "BIGINT", s[len("bigint"):]
	case strings.HasPrefix(s, "boolean"):
		return "BOOLEAN", s[len("boolean"):]
	case strings.HasPrefix(s, "array<"):
		el, rest := duckType(t, s[len("array<"):], props)
		return el + "[]", strings.TrimPrefix(rest, ">")
	case strings.HasPrefix(s, "map<string,"):
		v, rest := duckType(t, s[len("map<string,"):], props)
		return "MAP(VARCHAR, " + v + ")", strings.TrimPrefix(rest, ">")
	case strings.HasPrefix(s, "struct<"):
		s = s[len("struct<"):]
		var fs []string
		for {
			f, rest, _ := strings.Cut(s, ":")
			key := f
			if k, ok := props[f]; ok {
				key = k
			}
			var ft string
			ft, s = duckType(t, rest, props)
			// A JSON object or array read as a string is its JSON text.
			if ft == "VARCHAR" && (key == "M" || key == "L") {
				ft = "JSON"
			}
			fs = append(fs, fmt.Sprintf("\"%s\" %s", strings.ReplaceAll(key, `"`, `""`), ft))
			if strings.HasPrefix(s, ">") {
				return "STRUCT(" + strings.Join(fs, ", ") + ")", s[1:]
			}
			s = strings.TrimPrefix(s, ",")
		}
	}
	t.Fatalf("type %q", s)
	return "", ""
}

// image rebuilds DynamoDB JSON from DuckDB's to_json of a map-style value:
// the one non-null type key of each attribute, M and L unquoted.
func image(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var m map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	out := map[string]map[string]json.RawMessage{}
	for name, v := range m {
		for k, x := range v {
			if string(x) == "null" {
				continue
			}
			if out[name] != nil {
				t.Fatalf("attribute %q has two types: %s", name, raw)
			}
			out[name] = map[string]json.RawMessage{k: x}
		}
		if out[name] == nil {
			t.Fatalf("attribute %q has no value: %s", name, raw)
		}
	}
	b, _ := json.Marshal(out)
	return canonical(t, string(b))
}

func writeLines(t *testing.T, path string, lines []string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	z := gzip.NewWriter(f)
	for _, l := range lines {
		fmt.Fprintln(z, l)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestDuckDBReadsJSONLinesWithAthenaDDL(t *testing.T) {
	items := append(orderItems(50), corpus(t)...)
	for _, j := range []string{
		`{"pk":{"S":"odd"},"sk":{"N":"0"},"order-id":{"N":"1"},"Order ID":{"S":"x"},"_private":{"BOOL":false},"Name":{"S":"n"},"name":{"S":"m"},
		  "s":{"M":{"S":{"S":"nested"}}},"date":{"L":[{"M":{}},{"NULL":true}]},"é ü":{"BS":["AAE="]}}`,
	} {
		it, err := item.Unmarshal([]byte(j))
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	want := map[string]bool{}
	var lines []string
	for _, it := range items {
		b, _ := item.Marshal(it)
		lines = append(lines, `{"Item":`+string(b)+`}`)
		want[string(b)] = true
	}
	dir := t.TempDir()
	writeLines(t, filepath.Join(dir, "part-00000.json.gz"), lines)

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	read := func(ddl, sel, where string) []string {
		q := fmt.Sprintf("SELECT CAST(%s AS VARCHAR) FROM read_json('%s', format='newline_delimited', columns=%s) %s", sel, filepath.Join(dir, "*.json.gz"), duckColumns(t, ddl), where)
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}

	got := read(parquetfmt.MapDDL("t", "s3://b/data/", ""), "to_json(Item)", "")
	if len(got) != len(items) {
		t.Fatalf("%d rows, want %d", len(got), len(items))
	}
	for _, g := range got {
		if im := image(t, json.RawMessage(g)); !want[im] {
			t.Fatalf("map style: item not in the data:\n%s\nfrom %s", im, g)
		}
	}
	// A value read by name, and a nested one with json_extract.
	if v := read(parquetfmt.MapDDL("t", "s3://b/data/", ""), `json_extract_string(Item['s']."M", '$.S.S')`, `WHERE Item['order-id']."N" = '1'`); len(v) != 1 || v[0] != "nested" {
		t.Fatalf("nested value: %v", v)
	}

	// The AWS incremental export: Keys, NewImage, OldImage and Metadata.
	inc := "../../testdata/aws-exports/incremental/AWSDynamoDB/01695097218000-d6299cbd/data"
	dir = inc
	var raw []map[string]json.RawMessage
	f, err := os.Open(filepath.Join(inc, "ijklmnopqrstuvwxyz.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for d := json.NewDecoder(z); d.More(); {
		var l map[string]json.RawMessage
		if err := d.Decode(&l); err != nil {
			t.Fatal(err)
		}
		raw = append(raw, l)
	}
	f.Close()
	wantLines := map[string]bool{}
	for _, l := range raw {
		var md struct{ WriteTimestampMicros struct{ N string } }
		json.Unmarshal(l["Metadata"], &md)
		parts := []string{md.WriteTimestampMicros.N, canonical(t, string(l["Keys"]))}
		for _, k := range []string{"NewImage", "OldImage"} {
			if l[k] == nil {
				parts = append(parts, "-")
			} else {
				parts = append(parts, canonical(t, string(l[k])))
			}
		}
		wantLines[strings.Join(parts, " ")] = true
	}
	got = read(parquetfmt.ChangesDDL("c", "s3://b/data/", ""), `concat_ws(chr(31), Metadata."WriteTimestampMicros"."N", CAST(to_json(Keys) AS VARCHAR), coalesce(CAST(to_json(NewImage) AS VARCHAR), '-'), coalesce(CAST(to_json(OldImage) AS VARCHAR), '-'))`, "")
	if len(got) != len(raw) || len(raw) == 0 {
		t.Fatalf("%d changes, want %d", len(got), len(raw))
	}
	for _, g := range got {
		p := strings.SplitN(g, "\x1f", 4)
		line := []string{p[0], image(t, json.RawMessage(p[1]))}
		for _, x := range p[2:] {
			if x == "-" {
				line = append(line, "-")
			} else {
				line = append(line, image(t, json.RawMessage(x)))
			}
		}
		if !wantLines[strings.Join(line, " ")] {
			keys := make([]string, 0, len(wantLines))
			for k := range wantLines {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			t.Fatalf("change not in the export:\n%s\nwant one of\n%s", strings.Join(line, " "), strings.Join(keys, "\n"))
		}
	}
}
