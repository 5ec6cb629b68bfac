package parquetfmt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// TableSchema is a table schema file (schemas/table-schema.schema.json): the
// table's key and the attributes that get a typed column. Snapshots record
// the schema they were written with, resolved (every column named), in
// table-schema.json beside the manifests and in each Parquet file's
// metadata; that file is itself a valid --schema for the next snapshot.
type TableSchema struct {
	Schema     string      `json:"$schema,omitempty"`
	Table      string      `json:"table,omitempty"`
	Key        []KeyAttr   `json:"key"`
	Attributes []Attribute `json:"attributes"`
	// Inferred says the attributes were chosen from a sample of N items.
	Inferred *Inference `json:"inferred,omitempty"`
}

// KeyAttr is one key attribute with its DynamoDB type (S, N or B).
type KeyAttr struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Attribute is one typed column.
type Attribute struct {
	Name   string `json:"name"`             // the DynamoDB attribute name
	Type   string `json:"type"`             // see ParseType
	Column string `json:"column,omitempty"` // default: derived from Name (lowercase, [a-z0-9_])
}

// Inference records how an inferred schema was chosen.
type Inference struct {
	SampleItems int `json:"sampleItems"`
}

// The columns every file has.
const (
	ColItem         = "item"
	ColObjectKey    = "_object_key"
	ColVersionID    = "_version_id"
	ColLastModified = "_last_modified"
)

// MetadataKey is the Parquet key-value metadata entry holding the resolved
// TableSchema as JSON.
const MetadataKey = "dynasnap.table_schema"

var reserved = map[string]bool{ColItem: true, ColObjectKey: true, ColVersionID: true, ColLastModified: true}

var columnName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// LoadSchema reads and checks a table schema file.
func LoadSchema(path string) (*TableSchema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read table schema: %w", err)
	}
	s, err := ParseSchema(b)
	if err != nil {
		return nil, fmt.Errorf("table schema %s: %w", path, err)
	}
	return s, nil
}

// ParseSchema decodes a table schema (unknown fields are an error: a typo
// would otherwise silently drop a column) and resolves it.
func ParseSchema(b []byte) (*TableSchema, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s TableSchema
	if err := dec.Decode(&s); err != nil {
		return nil, err
	}
	if _, err := NewLayout(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Layout is a resolved schema: the Parquet schema and where each value goes.
type Layout struct {
	Table  TableSchema // resolved: key attributes first, every column named
	schema *parquet.Schema
	cols   []column
	leaves int
	// leaf indexes of the fixed columns
	item, objectKey, versionID, lastModified int
}

type column struct {
	attr string
	name string
	typ  Type
	leaf int
}

// Columns lists the attribute columns in schema order, keys first.
func (l *Layout) Columns() []Attribute { return l.Table.Attributes }

// Schema is the Parquet schema.
func (l *Layout) Schema() *parquet.Schema { return l.schema }

// NewLayout checks s and resolves it: key attributes missing from the
// attributes get a column of their DynamoDB type (S string, B binary, N
// bigint: declare N keys as decimal(38,s) or double if they are not
// integers), and every column gets a name. s itself is updated.
func NewLayout(s *TableSchema) (*Layout, error) {
	if len(s.Key) < 1 || len(s.Key) > 2 {
		return nil, fmt.Errorf("key: want 1 or 2 key attributes, got %d", len(s.Key))
	}
	declared := map[string]int{}
	for i, a := range s.Attributes {
		if a.Name == "" {
			return nil, fmt.Errorf("attributes[%d]: name is empty", i)
		}
		if _, dup := declared[a.Name]; dup {
			return nil, fmt.Errorf("attribute %q is declared twice", a.Name)
		}
		declared[a.Name] = i
	}
	var attrs []Attribute
	for _, k := range s.Key {
		var def string
		switch k.Type {
		case "S":
			def = "string"
		case "N":
			def = "bigint"
		case "B":
			def = "binary"
		default:
			return nil, fmt.Errorf("key attribute %q: type %q is not S, N or B", k.Name, k.Type)
		}
		if k.Name == "" {
			return nil, fmt.Errorf("key: a key attribute has no name")
		}
		if i, ok := declared[k.Name]; ok {
			attrs = append(attrs, s.Attributes[i])
		} else {
			attrs = append(attrs, Attribute{Name: k.Name, Type: def})
		}
	}
	keys := map[string]bool{}
	for _, k := range s.Key {
		keys[k.Name] = true
	}
	for _, a := range s.Attributes {
		if !keys[a.Name] {
			attrs = append(attrs, a)
		}
	}

	l := &Layout{}
	used := map[string]bool{}
	for n := range reserved {
		used[n] = true
	}
	// Explicit names first, so a derived name never takes one.
	for _, a := range attrs {
		if a.Column == "" {
			continue
		}
		if !columnName.MatchString(a.Column) || reserved[a.Column] {
			return nil, fmt.Errorf("attribute %q: column %q must match [a-z_][a-z0-9_]* and not be item, _object_key, _version_id or _last_modified", a.Name, a.Column)
		}
		if used[a.Column] {
			return nil, fmt.Errorf("attribute %q: column %q is used twice", a.Name, a.Column)
		}
		used[a.Column] = true
	}
	group := parquet.Group{
		ColItem:         parquet.String(),
		ColObjectKey:    parquet.String(),
		ColVersionID:    parquet.String(),
		ColLastModified: parquet.Timestamp(parquet.Millisecond),
	}
	for i := range attrs {
		a := &attrs[i]
		t, err := ParseType(a.Type)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		a.Type = t.String()
		if i < len(s.Key) && (t.Array || t.Kind == KindJSON) {
			return nil, fmt.Errorf("key attribute %q: type %s is not a scalar", a.Name, t)
		}
		if a.Column == "" {
			a.Column = deriveName(a.Name, used)
			used[a.Column] = true
		}
		group[a.Column] = t.node()
		l.cols = append(l.cols, column{attr: a.Name, name: a.Column, typ: t})
	}
	s.Attributes = attrs
	l.Table = *s
	l.schema = parquet.NewSchema("dynamodb_item", group)
	l.leaves = len(l.schema.Columns())
	leaf := func(name string, t Type) int {
		path := []string{name}
		if t.Array {
			path = append(path, "list", "element")
		}
		c, ok := l.schema.Lookup(path...)
		if !ok {
			panic("parquetfmt: no leaf column " + strings.Join(path, "."))
		}
		return c.ColumnIndex
	}
	for i := range l.cols {
		l.cols[i].leaf = leaf(l.cols[i].name, l.cols[i].typ)
	}
	l.item = leaf(ColItem, Type{})
	l.objectKey = leaf(ColObjectKey, Type{})
	l.versionID = leaf(ColVersionID, Type{})
	l.lastModified = leaf(ColLastModified, Type{})
	return l, nil
}

// deriveName makes a column name Athena accepts from an attribute name:
// lowercase (Athena folds case, so "Name" and "name" would clash anyway),
// every other character than [a-z0-9_] replaced by _, a leading digit
// prefixed, and a numeric suffix when the name is taken.
func deriveName(attr string, used map[string]bool) string {
	var b strings.Builder
	for _, r := range strings.ToLower(attr) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	n := b.String()
	if n == "" || n[0] >= '0' && n[0] <= '9' {
		n = "a_" + n
	}
	if !used[n] {
		return n
	}
	for i := 2; ; i++ {
		c := n + "_" + strconv.Itoa(i)
		if !used[c] {
			return c
		}
	}
}

// JSON is the resolved schema as indented JSON, as table-schema.json holds it.
func (l *Layout) JSON() []byte {
	b, _ := json.MarshalIndent(l.Table, "", "  ")
	return append(b, '\n')
}
