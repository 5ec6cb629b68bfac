package parquetfmt

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/parquet-go/parquet-go"

	"github.com/dynasnap/dynasnap/internal/item"
)

// Meta is where an item came from.
type Meta struct {
	ObjectKey    string
	VersionID    string
	LastModified time.Time
}

// Encoder turns items into rows of one layout. It keeps scratch space, so
// use one per goroutine.
type Encoder struct {
	l      *Layout
	byLeaf [][]parquet.Value
	// Misses counts values that did not fit their column's type and were
	// written as NULL there (they are whole in the item column).
	Misses int64
}

// NewEncoder returns an encoder for rows of l.
func (l *Layout) NewEncoder() *Encoder {
	return &Encoder{l: l, byLeaf: make([][]parquet.Value, l.leaves)}
}

// Row appends the row of one item to row[:0] and returns it. body is the
// item's compact DynamoDB JSON; it is decoded for the typed columns and
// stored as it is in the item column. The row refers to body and to the
// decoded strings: write it before reusing body.
func (e *Encoder) Row(row parquet.Row, body []byte, m Meta) (parquet.Row, error) {
	it, err := item.Unmarshal(body)
	if err != nil {
		return row, fmt.Errorf("item of %s: %w", m.ObjectKey, err)
	}
	l := e.l
	for i := range e.byLeaf {
		e.byLeaf[i] = e.byLeaf[i][:0]
	}
	for _, c := range l.cols {
		e.byLeaf[c.leaf] = e.appendColumn(e.byLeaf[c.leaf], c, it[c.attr])
	}
	e.byLeaf[l.item] = append(e.byLeaf[l.item], parquet.ByteArrayValue(body).Level(0, 0, l.item))
	e.byLeaf[l.objectKey] = append(e.byLeaf[l.objectKey], parquet.ByteArrayValue([]byte(m.ObjectKey)).Level(0, 0, l.objectKey))
	e.byLeaf[l.versionID] = append(e.byLeaf[l.versionID], parquet.ByteArrayValue([]byte(m.VersionID)).Level(0, 0, l.versionID))
	e.byLeaf[l.lastModified] = append(e.byLeaf[l.lastModified], parquet.Int64Value(m.LastModified.UnixMilli()).Level(0, 0, l.lastModified))
	row = row[:0]
	for _, vs := range e.byLeaf {
		row = append(row, vs...)
	}
	return row, nil
}

// appendColumn appends the values of one attribute column: a scalar column
// is optional (definition level 1 when present), an array column is an
// optional LIST of required elements (0 null, 1 empty, 2 an element).
func (e *Encoder) appendColumn(dst []parquet.Value, c column, av types.AttributeValue) []parquet.Value {
	null := parquet.Value{}.Level(0, 0, c.leaf)
	if av == nil {
		return append(dst, null)
	}
	if _, isNull := av.(*types.AttributeValueMemberNULL); isNull {
		return append(dst, null)
	}
	if !c.typ.Array {
		v, ok := scalar(c.typ, av)
		if !ok {
			e.Misses++
			return append(dst, null)
		}
		return append(dst, v.Level(0, 1, c.leaf))
	}
	elems, ok := elements(av)
	if !ok {
		e.Misses++
		return append(dst, null)
	}
	if len(elems) == 0 {
		return append(dst, parquet.Value{}.Level(0, 1, c.leaf))
	}
	start := len(dst)
	for i, el := range elems {
		v, ok := scalar(c.typ, el)
		if !ok {
			e.Misses++
			return append(dst[:start], null)
		}
		rep := 1
		if i == 0 {
			rep = 0
		}
		dst = append(dst, v.Level(rep, 2, c.leaf))
	}
	return dst
}

// elements gives the members of a set or list as attribute values.
func elements(av types.AttributeValue) ([]types.AttributeValue, bool) {
	switch v := av.(type) {
	case *types.AttributeValueMemberL:
		return v.Value, true
	case *types.AttributeValueMemberSS:
		out := make([]types.AttributeValue, len(v.Value))
		for i, s := range v.Value {
			out[i] = &types.AttributeValueMemberS{Value: s}
		}
		return out, true
	case *types.AttributeValueMemberNS:
		out := make([]types.AttributeValue, len(v.Value))
		for i, s := range v.Value {
			out[i] = &types.AttributeValueMemberN{Value: s}
		}
		return out, true
	case *types.AttributeValueMemberBS:
		out := make([]types.AttributeValue, len(v.Value))
		for i, b := range v.Value {
			out[i] = &types.AttributeValueMemberB{Value: b}
		}
		return out, true
	}
	return nil, false
}

// scalar converts one value to the column's kind; false means it does not fit.
func scalar(t Type, av types.AttributeValue) (parquet.Value, bool) {
	switch t.Kind {
	case KindString:
		switch v := av.(type) {
		case *types.AttributeValueMemberS:
			return parquet.ByteArrayValue([]byte(v.Value)), true
		case *types.AttributeValueMemberN:
			return parquet.ByteArrayValue([]byte(v.Value)), true
		case *types.AttributeValueMemberBOOL:
			return parquet.ByteArrayValue([]byte(strconv.FormatBool(v.Value))), true
		case *types.AttributeValueMemberB:
			return parquet.ByteArrayValue(base64.StdEncoding.AppendEncode(nil, v.Value)), true
		}
	case KindJSON:
		return parquet.ByteArrayValue(appendPlainJSON(nil, av)), true
	case KindBigint:
		if v, ok := av.(*types.AttributeValueMemberN); ok {
			if d, ok := parseNumber(v.Value); ok {
				if n, ok := d.int64(); ok {
					return parquet.Int64Value(n), true
				}
			}
		}
	case KindDouble:
		if v, ok := av.(*types.AttributeValueMemberN); ok {
			if f, err := strconv.ParseFloat(v.Value, 64); err == nil {
				return parquet.DoubleValue(f), true
			}
		}
	case KindDecimal:
		if v, ok := av.(*types.AttributeValueMemberN); ok {
			if d, ok := parseNumber(v.Value); ok {
				if b, ok := d.decimal16(t.Precision, t.Scale); ok {
					return parquet.FixedLenByteArrayValue(b), true
				}
			}
		}
	case KindBoolean:
		if v, ok := av.(*types.AttributeValueMemberBOOL); ok {
			return parquet.BooleanValue(v.Value), true
		}
	case KindBinary:
		if v, ok := av.(*types.AttributeValueMemberB); ok {
			if v.Value == nil {
				return parquet.ByteArrayValue([]byte{}), true
			}
			return parquet.ByteArrayValue(v.Value), true
		}
	}
	return parquet.Value{}, false
}

// appendPlainJSON writes a value as plain JSON, the form analysts query
// with json_extract: S and B (base64) as strings, N as a number (as a
// string if its text is not a JSON number), L and sets as arrays, M as an
// object with sorted keys, NULL as null. Types that JSON cannot tell apart
// (a set from a list, B from S) are only exact in the item column.
func appendPlainJSON(dst []byte, av types.AttributeValue) []byte {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return item.AppendString(dst, v.Value)
	case *types.AttributeValueMemberN:
		return appendJSONNumber(dst, v.Value)
	case *types.AttributeValueMemberB:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v.Value)
		return append(dst, '"')
	case *types.AttributeValueMemberBOOL:
		return strconv.AppendBool(dst, v.Value)
	case *types.AttributeValueMemberNULL:
		return append(dst, "null"...)
	case *types.AttributeValueMemberSS:
		dst = append(dst, '[')
		for i, s := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = item.AppendString(dst, s)
		}
		return append(dst, ']')
	case *types.AttributeValueMemberNS:
		dst = append(dst, '[')
		for i, s := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONNumber(dst, s)
		}
		return append(dst, ']')
	case *types.AttributeValueMemberBS:
		dst = append(dst, '[')
		for i, b := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, b)
			dst = append(dst, '"')
		}
		return append(dst, ']')
	case *types.AttributeValueMemberL:
		dst = append(dst, '[')
		for i, e := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendPlainJSON(dst, e)
		}
		return append(dst, ']')
	case *types.AttributeValueMemberM:
		names := make([]string, 0, len(v.Value))
		for k := range v.Value {
			names = append(names, k)
		}
		sort.Strings(names)
		dst = append(dst, '{')
		for i, k := range names {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = item.AppendString(dst, k)
			dst = append(dst, ':')
			dst = appendPlainJSON(dst, v.Value[k])
		}
		return append(dst, '}')
	}
	return append(dst, "null"...)
}

func appendJSONNumber(dst []byte, s string) []byte {
	if isJSONNumber(s) {
		return append(dst, s...)
	}
	return item.AppendString(dst, s)
}
