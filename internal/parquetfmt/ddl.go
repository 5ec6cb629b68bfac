package parquetfmt

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
)

// Identifier makes a table name Athena accepts from any text, as column
// names are made from attribute names.
func Identifier(s string) string { return deriveName(s, nil) }

// quoteIdent makes a quoted identifier of Hive DDL: a backquote inside is
// doubled, so no name closes the quoting early.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// quote makes a string literal of Hive DDL.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// ParquetDDL is the CREATE EXTERNAL TABLE statement for a Parquet snapshot
// whose data files are under location (the snapshot's data/ folder).
// Athena matches Parquet columns by name, so the order here is free.
func ParquetDDL(ts *TableSchema, table, location, comment string) (string, error) {
	l, err := NewLayout(ts)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS %s (\n", quoteIdent(table))
	for _, c := range l.cols {
		fmt.Fprintf(&b, "  `%s` %s", c.name, c.typ.Athena())
		if c.name != c.attr || c.typ.Kind == KindJSON {
			note := "DynamoDB attribute " + c.attr
			if c.typ.Kind == KindJSON {
				note += ", as JSON text"
			}
			fmt.Fprintf(&b, " COMMENT %s", quote(note))
		}
		b.WriteString(",\n")
	}
	fmt.Fprintf(&b, "  `%s` string COMMENT 'the whole item as DynamoDB JSON',\n", ColItem)
	fmt.Fprintf(&b, "  `%s` string COMMENT 'the S3 object the item was backed up in',\n", ColObjectKey)
	fmt.Fprintf(&b, "  `%s` string,\n", ColVersionID)
	fmt.Fprintf(&b, "  `%s` timestamp\n)\n", ColLastModified)
	if comment != "" {
		fmt.Fprintf(&b, "COMMENT %s\n", quote(comment))
	}
	fmt.Fprintf(&b, "STORED AS PARQUET\nLOCATION %s\nTBLPROPERTIES ('classification'='parquet');\n", quote(location))
	return b.String(), nil
}

// The DDL styles of a JSON-lines snapshot (athena-ddl --style).
const (
	// StyleStruct: Item is a struct of the attributes seen in a sample.
	StyleStruct = "struct"
	// StyleMap: Item is a map from attribute name to value; no sample.
	StyleMap = "map"
)

// A DynamoDB attribute value is a JSON object with exactly one of these
// type keys. field is its struct field name in the DDL (lowercase, as Hive
// keeps it: the SerDe's mapping.* properties map it back to key, since
// case.insensitive is off); NULL is a reserved word, hence isnull. Maps and
// lists are declared string: the OpenX SerDe gives a JSON object or array
// read into a string field as its JSON text (Hive types cannot recurse).
var valueFields = []struct{ field, key, typ string }{
	{"s", "S", "string"},
	{"n", "N", "string"},
	{"b", "B", "string"},
	{"bool", "BOOL", "boolean"},
	{"isnull", "NULL", "boolean"},
	{"ss", "SS", "array<string>"},
	{"ns", "NS", "array<string>"},
	{"bs", "BS", "array<string>"},
	{"m", "M", "string"},
	{"l", "L", "string"},
}

// hiveReserved are Hive's reserved keywords, which an attribute's field
// name must not be.
var hiveReserved = strings.Fields(`all alter and array as authorization between bigint binary boolean both by
	cache case cast char column commit conf constraint create cross cube current current_date
	current_timestamp cursor database date dayofweek decimal delete describe distinct double drop else
	end exchange exists extended external extract false fetch float floor following for foreign from
	full function grant group grouping having if import in inner insert int integer intersect interval
	into is join lateral left less like local macro map more none not null numeric of on only or order
	out outer over partialscan partition percent preceding precision preserve primary procedure range
	reads reduce references regexp revoke right rlike rollback rollup row rows select set smallint start
	struct sync table tablesample then time timestamp to transform trigger true truncate unbounded union
	uniquejoin update user using utc_tmestamp values varchar views when where window with`)

// serde collects the OpenX JsonSerDe's mapping.FIELD = JSON key
// properties. Hive lowercases every column and struct field name and the
// SerDe looks a field's key up in one table for every level, so a field
// name means one key throughout the table.
type serde struct{ mappings map[string]string }

func newSerde() *serde {
	s := &serde{mappings: map[string]string{}}
	for _, v := range valueFields {
		s.field(v.field, v.key)
	}
	return s
}

// field returns field, recording that it is read from the JSON key key.
func (s *serde) field(field, key string) string {
	if field != key {
		if k, ok := s.mappings[field]; ok && k != key {
			panic(fmt.Sprintf("parquetfmt: field %s mapped to %q and %q", field, k, key))
		}
		s.mappings[field] = key
	}
	return field
}

// valueStruct is the struct of an attribute value with the given type keys
// (all of them when types is nil).
func valueStruct(types map[string]bool) string {
	var fs []string
	for _, v := range valueFields {
		if types == nil || types[v.key] {
			fs = append(fs, v.field+":"+v.typ)
		}
	}
	return "struct<" + strings.Join(fs, ",") + ">"
}

// MapValueType is the Hive type of an attribute value in the map style.
var MapValueType = valueStruct(nil)

// properties is the WITH SERDEPROPERTIES clause.
func (s *serde) properties() string {
	keys := make([]string, 0, len(s.mappings))
	for k := range s.mappings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	props := []string{quote("case.insensitive") + "=" + quote("FALSE")}
	for _, k := range keys {
		props = append(props, quote("mapping."+k)+"="+quote(s.mappings[k]))
	}
	return "WITH SERDEPROPERTIES (\n  " + strings.Join(props, ",\n  ") + "\n)\n"
}

func jsonTable(table, columns, comment, location string, s *serde) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS %s (\n%s\n)\n", quoteIdent(table), columns)
	if comment != "" {
		fmt.Fprintf(&b, "COMMENT %s\n", quote(comment))
	}
	b.WriteString("ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n")
	b.WriteString(s.properties())
	fmt.Fprintf(&b, "LOCATION %s;\n", quote(location))
	return b.String()
}

// serdeFieldNames gives each attribute a struct field name: the name
// itself when it is a lowercase Hive identifier, not reserved and not a
// value field; else one derived from it (lowercase, [a-z0-9_], starting
// with a letter, a numeric suffix on a clash), read through mapping.*.
// Names that need no change are given theirs first, so they keep them.
func serdeFieldNames(names []string) map[string]string {
	used := map[string]bool{"item": true}
	for _, v := range valueFields {
		used[v.field] = true
	}
	for _, w := range hiveReserved {
		used[w] = true
	}
	out := map[string]string{}
	for _, n := range names {
		if lowerHiveField.MatchString(n) && !used[n] {
			out[n], used[n] = n, true
		}
	}
	for _, n := range names {
		if _, ok := out[n]; ok {
			continue
		}
		f := deriveName(n, nil)
		if f[0] == '_' {
			f = "a" + f
		}
		if used[f] {
			for i := 2; ; i++ {
				if c := f + "_" + strconv.Itoa(i); !used[c] {
					f = c
					break
				}
			}
		}
		out[n], used[f] = f, true
	}
	return out
}

var lowerHiveField = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// JSONLinesDDL is the CREATE EXTERNAL TABLE statement for a JSON-lines
// snapshot ({"Item":{...}} lines), read with the OpenX JsonSerDe as AWS
// documents for DynamoDB exports. The attributes come from a sample of
// items: each is a struct field of the DynamoDB types it was seen with
// (maps and lists as JSON text). Every sampled attribute is kept: a name
// that is not a lowercase Hive identifier (order-id, Order ID, _private,
// Name beside name) gets a field name of its own, mapped back to it by a
// mapping.* property, with case.insensitive off so that case is kept.
// Attributes the sample did not hold are not in the struct: MapDDL is the
// form that needs no sample.
func JSONLinesDDL(samples []item.Item, table, location, comment string) string {
	seen := map[string]map[string]bool{}
	for _, it := range samples {
		for name, av := range it {
			if seen[name] == nil {
				seen[name] = map[string]bool{}
			}
			seen[name][dynamoType(av)] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	s := newSerde()
	fieldOf := serdeFieldNames(names)
	fields := make([]string, 0, len(names))
	for _, n := range names {
		fields = append(fields, s.field(fieldOf[n], n)+":"+valueStruct(seen[n]))
	}
	s.field("item", "Item")
	// A struct needs a field: a sample without items gets the map style.
	typ := "map<string," + MapValueType + ">"
	if len(fields) > 0 {
		typ = "struct<" + strings.Join(fields, ",\n    ") + ">"
	}
	return jsonTable(table, "  `Item` "+typ, comment, location, s)
}

// MapDDL is the CREATE EXTERNAL TABLE statement for a JSON-lines snapshot
// that needs no sample and drops no attribute: Item is a map from each
// attribute's name, exactly as stored, to a struct of the value's type
// keys (MapValueType), M and L holding their DynamoDB JSON as text.
// Query: item['order-id'].s, json_extract(item['addr'].m, '$.city.S').
func MapDDL(table, location, comment string) string {
	s := newSerde()
	s.field("item", "Item")
	return jsonTable(table, "  `Item` map<string,"+MapValueType+">", comment, location, s)
}

// ChangesDDL is the CREATE EXTERNAL TABLE statement for an incremental
// export (AWS's, or diff --out's): lines {"Metadata":{"WriteTimestampMicros":
// {"N":"..."}},"Keys":{...},"NewImage":{...},"OldImage":{...}}, the images
// in the map style of MapDDL. location is the export's data/ folder.
func ChangesDDL(table, location, comment string) string {
	s := newSerde()
	img := "map<string," + MapValueType + ">"
	cols := []string{
		fmt.Sprintf("  `Metadata` struct<%s:struct<n:string>>", s.field("writetimestampmicros", "WriteTimestampMicros")),
		"  `Keys` " + img,
		"  `NewImage` " + img,
		"  `OldImage` " + img,
	}
	for _, c := range []string{"Metadata", "Keys", "NewImage", "OldImage"} {
		s.field(strings.ToLower(c), c)
	}
	return jsonTable(table, strings.Join(cols, ",\n"), comment, location, s)
}

func dynamoType(av types.AttributeValue) string {
	switch av.(type) {
	case *types.AttributeValueMemberS:
		return "S"
	case *types.AttributeValueMemberN:
		return "N"
	case *types.AttributeValueMemberB:
		return "B"
	case *types.AttributeValueMemberBOOL:
		return "BOOL"
	case *types.AttributeValueMemberNULL:
		return "NULL"
	case *types.AttributeValueMemberSS:
		return "SS"
	case *types.AttributeValueMemberNS:
		return "NS"
	case *types.AttributeValueMemberBS:
		return "BS"
	case *types.AttributeValueMemberM:
		return "M"
	}
	return "L"
}
