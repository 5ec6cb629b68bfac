// Package parquetfmt encodes DynamoDB items as Parquet rows for analytics
// engines (Athena, DuckDB, Spark) and reads them back.
//
// A file has typed columns for the table's key attributes and for the
// attributes a table schema declares (or a sample of items suggests), plus
// four columns that are always there: item (the whole item as compact
// DynamoDB JSON text, so nothing is ever lost), _object_key, _version_id and
// _last_modified. A typed column is a convenience for queries; a value that
// does not fit its column's type is NULL there and still whole in item.
package parquetfmt

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Kind is the scalar kind of a column or of an array column's elements.
type Kind int

const (
	KindString  Kind = iota + 1 // S; or any scalar as text (mixed types)
	KindBigint                  // N that is an integer in int64
	KindDouble                  // N as float64
	KindDecimal                 // N as DECIMAL(precision, scale)
	KindBoolean                 // BOOL
	KindBinary                  // B
	KindJSON                    // any value as plain JSON text (maps, mixed lists)
)

// MaxPrecision is the largest DECIMAL precision (Athena's, Parquet's in 16 bytes).
const MaxPrecision = 38

// Type is a column type as the schema file and Athena spell it: string,
// bigint, double, decimal(p,s), boolean, binary, json, or array<T> of any of
// them but json.
type Type struct {
	Kind             Kind
	Array            bool
	Precision, Scale int // for KindDecimal
}

var kindNames = map[Kind]string{KindString: "string", KindBigint: "bigint", KindDouble: "double",
	KindBoolean: "boolean", KindBinary: "binary", KindJSON: "json"}

// String is the type's name in a schema file.
func (t Type) String() string {
	s := kindNames[t.Kind]
	if t.Kind == KindDecimal {
		s = fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	}
	if t.Array {
		return "array<" + s + ">"
	}
	return s
}

// Athena is the type in a CREATE EXTERNAL TABLE statement; json columns are
// strings there (query them with json_extract).
func (t Type) Athena() string {
	if t.Kind == KindJSON {
		return "string"
	}
	return t.String()
}

// ParseType reads a type name of the schema file.
func ParseType(s string) (Type, error) {
	s = strings.ToLower(strings.ReplaceAll(s, " ", ""))
	var t Type
	if inner, ok := strings.CutPrefix(s, "array<"); ok {
		inner, ok = strings.CutSuffix(inner, ">")
		if !ok {
			return t, fmt.Errorf("type %q: want array<ELEMENT>", s)
		}
		e, err := ParseType(inner)
		if err != nil {
			return t, err
		}
		if e.Array || e.Kind == KindJSON {
			return t, fmt.Errorf("type %q: array elements must be a scalar type (string, bigint, double, decimal(p,s), boolean, binary)", s)
		}
		e.Array = true
		return e, nil
	}
	for k, n := range kindNames {
		if s == n {
			return Type{Kind: k}, nil
		}
	}
	if args, ok := strings.CutPrefix(s, "decimal("); ok {
		args, ok = strings.CutSuffix(args, ")")
		p, sc, ok2 := strings.Cut(args, ",")
		pi, err1 := strconv.Atoi(p)
		si, err2 := strconv.Atoi(sc)
		if !ok || !ok2 || err1 != nil || err2 != nil || pi < 1 || pi > MaxPrecision || si < 0 || si > pi {
			return t, fmt.Errorf("type %q: want decimal(PRECISION,SCALE) with 1 <= PRECISION <= %d and 0 <= SCALE <= PRECISION", s, MaxPrecision)
		}
		return Type{Kind: KindDecimal, Precision: pi, Scale: si}, nil
	}
	return t, fmt.Errorf("type %q: want string, bigint, double, decimal(p,s), boolean, binary, json or array<...> of a scalar", s)
}

// node is the Parquet schema node of an attribute column: always optional,
// since any item may lack the attribute or hold another type; arrays are
// the standard three-level LIST with required elements.
func (t Type) node() parquet.Node {
	var n parquet.Node
	switch t.Kind {
	case KindString, KindJSON:
		n = parquet.String()
	case KindBigint:
		n = parquet.Int(64)
	case KindDouble:
		n = parquet.Leaf(parquet.DoubleType)
	case KindDecimal:
		// 16 bytes hold any 38-digit unscaled value; Athena, DuckDB and
		// Spark all read FIXED_LEN_BYTE_ARRAY decimals of any precision.
		n = parquet.Decimal(t.Scale, t.Precision, parquet.FixedLenByteArrayType(16))
	case KindBoolean:
		n = parquet.Leaf(parquet.BooleanType)
	case KindBinary:
		n = parquet.Leaf(parquet.ByteArrayType)
	}
	if t.Array {
		return parquet.Optional(parquet.List(parquet.Required(n)))
	}
	return parquet.Optional(n)
}
