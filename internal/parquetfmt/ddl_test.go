package parquetfmt

import (
	"regexp"
	"strings"
	"testing"

	"github.com/dynasnap/dynasnap/internal/item"
)

// ddlProps parses a statement's SERDEPROPERTIES into a map.
func ddlProps(t *testing.T, ddl string) map[string]string {
	t.Helper()
	i := strings.Index(ddl, "WITH SERDEPROPERTIES (\n")
	j := strings.Index(ddl, "\n)\nLOCATION ")
	if i < 0 || j < i {
		t.Fatalf("no SERDEPROPERTIES ... LOCATION in\n%s", ddl)
	}
	props := map[string]string{}
	for _, l := range strings.Split(ddl[i+len("WITH SERDEPROPERTIES (\n"):j], ",\n") {
		m := regexp.MustCompile(`^  '([^']*)'='([^']*)'$`).FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("property line %q", l)
		}
		if _, dup := props[m[1]]; dup {
			t.Fatalf("property %s twice", m[1])
		}
		props[m[1]] = m[2]
	}
	return props
}

// structFields splits the fields of the struct<...> that follows prefix.
func structFields(t *testing.T, ddl, prefix string) []string {
	t.Helper()
	i := strings.Index(ddl, prefix)
	if i < 0 {
		t.Fatalf("no %q in\n%s", prefix, ddl)
	}
	s := ddl[i+len(prefix):]
	depth, start := 0, 0
	var out []string
	for k, r := range s {
		switch r {
		case '<':
			depth++
		case '>':
			if depth == 0 {
				return append(out, strings.TrimSpace(s[start:k]))
			}
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:k]))
				start = k + 1
			}
		}
	}
	t.Fatalf("unclosed struct after %q", prefix)
	return nil
}

var typeMappings = map[string]string{"mapping.s": "S", "mapping.n": "N", "mapping.b": "B", "mapping.bool": "BOOL",
	"mapping.isnull": "NULL", "mapping.ss": "SS", "mapping.ns": "NS", "mapping.bs": "BS", "mapping.m": "M", "mapping.l": "L"}

func TestJSONLinesDDLKeepsEveryAttribute(t *testing.T) {
	var samples []item.Item
	for _, j := range []string{
		`{"pk":{"S":"a"},"order-id":{"N":"1"},"Order ID":{"S":"x"},"_private":{"BOOL":true},"Name":{"S":"n"},"name":{"S":"m"},
		  "s":{"S":"attr named s"},"date":{"S":"2026-01-01"},"item":{"M":{"a":{"S":"b"}}},"9lives":{"L":[{"N":"9"}]},"gone":{"NULL":true}}`,
		`{"pk":{"S":"b"},"order-id":{"S":"one"},"tags":{"SS":["a"]},"nums":{"NS":["1"]},"bins":{"BS":["AA=="]},"blob":{"B":"AAE="}}`,
	} {
		it, err := item.Unmarshal([]byte(j))
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, it)
	}
	ddl := JSONLinesDDL(samples, "orders", "s3://b/p/data/", "a comment")
	props := ddlProps(t, ddl)
	if props["case.insensitive"] != "FALSE" || props["mapping.item"] != "Item" {
		t.Fatalf("case.insensitive / mapping.item: %v", props)
	}
	for k, v := range typeMappings {
		if props[k] != v {
			t.Errorf("%s = %q, want %q", k, props[k], v)
		}
	}
	// Every field's attribute: its mapping, or its own name.
	attrs := map[string]string{}
	for _, f := range structFields(t, ddl, "`Item` struct<") {
		name, typ, ok := strings.Cut(f, ":")
		if !ok || !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(name) {
			t.Fatalf("field %q is not a lowercase Hive identifier", f)
		}
		attr := name
		if m, ok := props["mapping."+name]; ok {
			attr = m
		}
		if _, dup := attrs[attr]; dup {
			t.Fatalf("attribute %s twice", attr)
		}
		attrs[attr] = typ
	}
	want := map[string]string{
		"pk": "struct<s:string>", "order-id": "struct<s:string,n:string>", "Order ID": "struct<s:string>",
		"_private": "struct<bool:boolean>", "Name": "struct<s:string>", "name": "struct<s:string>", "s": "struct<s:string>",
		"date": "struct<s:string>", "item": "struct<m:string>", "9lives": "struct<l:string>", "gone": "struct<isnull:boolean>",
		"tags": "struct<ss:array<string>>", "nums": "struct<ns:array<string>>", "bins": "struct<bs:array<string>>", "blob": "struct<b:string>",
	}
	if len(attrs) != len(want) {
		t.Errorf("%d attributes, want %d: %v", len(attrs), len(want), attrs)
	}
	for a, typ := range want {
		if attrs[a] != typ {
			t.Errorf("attribute %q: %q, want %q\n%s", a, attrs[a], typ, ddl)
		}
	}
	// Names that need no mapping keep theirs; the others get readable ones.
	for field, attr := range map[string]string{"order_id": "Order ID", "order_id_2": "order-id", "a_private": "_private",
		"name_2": "Name", "s_2": "s", "date_2": "date", "item_2": "item", "a_9lives": "9lives"} {
		if props["mapping."+field] != attr {
			t.Errorf("mapping.%s = %q, want %q", field, props["mapping."+field], attr)
		}
	}
	if _, ok := props["mapping.name"]; ok {
		t.Errorf("name needs no mapping")
	}
	for _, w := range []string{"CREATE EXTERNAL TABLE IF NOT EXISTS `orders` (\n", "COMMENT 'a comment'\n",
		"ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\nWITH SERDEPROPERTIES (\n", "LOCATION 's3://b/p/data/';\n"} {
		if !strings.Contains(ddl, w) {
			t.Errorf("no %q in\n%s", w, ddl)
		}
	}
}

func TestMapDDL(t *testing.T) {
	ddl := MapDDL("orders", "s3://b/p/data/", "")
	want := "CREATE EXTERNAL TABLE IF NOT EXISTS `orders` (\n" +
		"  `Item` map<string,struct<s:string,n:string,b:string,bool:boolean,isnull:boolean,ss:array<string>,ns:array<string>,bs:array<string>,m:string,l:string>>\n)\n" +
		"ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\nWITH SERDEPROPERTIES (\n  'case.insensitive'='FALSE',\n"
	if !strings.HasPrefix(ddl, want) || !strings.HasSuffix(ddl, "\n)\nLOCATION 's3://b/p/data/';\n") {
		t.Fatalf("got\n%s", ddl)
	}
	props := ddlProps(t, ddl)
	if len(props) != len(typeMappings)+2 || props["mapping.item"] != "Item" {
		t.Fatalf("properties %v", props)
	}
	for k, v := range typeMappings {
		if props[k] != v {
			t.Errorf("%s = %q, want %q", k, props[k], v)
		}
	}
	// No sample: a JSON-lines DDL of no items is the map style too.
	if got := JSONLinesDDL(nil, "orders", "s3://b/p/data/", ""); got != ddl {
		t.Errorf("JSONLinesDDL(nil):\n%s", got)
	}
}

func TestChangesDDL(t *testing.T) {
	ddl := ChangesDDL("orders_changes", "s3://b/x/AWSDynamoDB/01-ab/data/", "changes")
	img := "map<string," + MapValueType + ">"
	for _, w := range []string{
		"  `Metadata` struct<writetimestampmicros:struct<n:string>>,\n",
		"  `Keys` " + img + ",\n", "  `NewImage` " + img + ",\n", "  `OldImage` " + img + "\n)\n",
		"LOCATION 's3://b/x/AWSDynamoDB/01-ab/data/';\n",
	} {
		if !strings.Contains(ddl, w) {
			t.Errorf("no %q in\n%s", w, ddl)
		}
	}
	props := ddlProps(t, ddl)
	for k, v := range map[string]string{"case.insensitive": "FALSE", "mapping.metadata": "Metadata", "mapping.writetimestampmicros": "WriteTimestampMicros",
		"mapping.keys": "Keys", "mapping.newimage": "NewImage", "mapping.oldimage": "OldImage"} {
		if props[k] != v {
			t.Errorf("%s = %q, want %q", k, props[k], v)
		}
	}
	for k, v := range typeMappings {
		if props[k] != v {
			t.Errorf("%s = %q, want %q", k, props[k], v)
		}
	}
}
