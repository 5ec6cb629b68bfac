package parquetfmt

import (
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
)

// MaxInferredColumns bounds the typed columns of an inferred schema: tables
// that use attribute names as data (one attribute per day, per user) would
// otherwise get thousands. The most frequent attributes win; the others are
// in the item column.
const MaxInferredColumns = 500

// Sample is one sampled item with the object key it was backed up under.
type Sample struct {
	Item      item.Item
	ObjectKey string
}

// Infer chooses a schema from a sample. The key attributes come from the
// first item and its object key (the object id is the SHA-256 of the key, so
// exactly one choice of attributes reproduces it). Each attribute's column
// type follows what the sample holds:
//
//   - S string, B binary, BOOL boolean, M json
//   - N bigint if every value is an integer in int64, else decimal(38,s)
//     with s the largest scale seen if every value fits, else double
//   - SS array<string>, NS array<number as for N>, BS array<binary>; L
//     array<T> if all its elements are scalars of one kind, else json
//   - mixed scalar kinds (S and N, say) string; any other mix json
//   - NULL alone gives no column
//
// Values outside the sample that do not fit the chosen type are NULL in
// their column (and whole in the item column).
func Infer(table string, samples []Sample) (*TableSchema, error) {
	if len(samples) == 0 {
		return nil, fmt.Errorf("no items to infer a schema from: pass --schema")
	}
	keys, _, err := keyschema.Infer(samples[0].Item, samples[0].ObjectKey)
	if err != nil {
		return nil, fmt.Errorf("infer the key from %s: %w", samples[0].ObjectKey, err)
	}
	stats := map[string]*attrStats{}
	for _, s := range samples {
		for name, av := range s.Item {
			st := stats[name]
			if st == nil {
				st = &attrStats{kinds: map[string]bool{}, elemKinds: map[string]bool{}}
				stats[name] = st
			}
			st.add(av)
		}
	}
	ts := &TableSchema{Table: table, Inferred: &Inference{SampleItems: len(samples)}}
	isKey := map[string]bool{}
	for _, k := range keys {
		ts.Key = append(ts.Key, KeyAttr{Name: k.Name, Type: string(k.Type)})
		isKey[k.Name] = true
		ts.Attributes = append(ts.Attributes, Attribute{Name: k.Name, Type: stats[k.Name].typ().String()})
	}
	var names []string
	for n, st := range stats {
		if !isKey[n] && st.typ().Kind != 0 {
			names = append(names, n)
		}
	}
	// Most frequent first for the cut, then by name for a stable order.
	sort.Slice(names, func(i, j int) bool {
		a, b := stats[names[i]], stats[names[j]]
		if a.count != b.count {
			return a.count > b.count
		}
		return names[i] < names[j]
	})
	if len(names) > MaxInferredColumns {
		names = names[:MaxInferredColumns]
	}
	sort.Strings(names)
	for _, n := range names {
		ts.Attributes = append(ts.Attributes, Attribute{Name: n, Type: stats[n].typ().String()})
	}
	if _, err := NewLayout(ts); err != nil {
		return nil, err
	}
	return ts, nil
}

type numStats struct {
	seen, notInt64     bool
	maxScale, maxDigit int
	bad                bool // a number we cannot parse: use double
}

func (n *numStats) add(s string) {
	n.seen = true
	d, ok := parseNumber(s)
	if !ok {
		n.bad = true
		return
	}
	if _, ok := d.int64(); !ok {
		n.notInt64 = true
	}
	n.maxScale = max(n.maxScale, d.scale())
	n.maxDigit = max(n.maxDigit, d.intDigits())
}

func (n *numStats) typ() Type {
	switch {
	case !n.notInt64 && !n.bad:
		return Type{Kind: KindBigint}
	case !n.bad && n.maxDigit+n.maxScale <= MaxPrecision:
		return Type{Kind: KindDecimal, Precision: MaxPrecision, Scale: n.maxScale}
	}
	return Type{Kind: KindDouble}
}

type attrStats struct {
	count     int
	kinds     map[string]bool // DynamoDB type names seen, NULL left out
	elemKinds map[string]bool // of L elements
	num       numStats        // N values and L elements that are N
	setNum    numStats        // NS members
}

func (s *attrStats) add(av types.AttributeValue) {
	s.count++
	switch v := av.(type) {
	case *types.AttributeValueMemberNULL:
		return
	case *types.AttributeValueMemberS:
		s.kinds["S"] = true
	case *types.AttributeValueMemberN:
		s.kinds["N"] = true
		s.num.add(v.Value)
	case *types.AttributeValueMemberB:
		s.kinds["B"] = true
	case *types.AttributeValueMemberBOOL:
		s.kinds["BOOL"] = true
	case *types.AttributeValueMemberM:
		s.kinds["M"] = true
	case *types.AttributeValueMemberSS:
		s.kinds["SS"] = true
	case *types.AttributeValueMemberBS:
		s.kinds["BS"] = true
	case *types.AttributeValueMemberNS:
		s.kinds["NS"] = true
		for _, n := range v.Value {
			s.setNum.add(n)
		}
	case *types.AttributeValueMemberL:
		s.kinds["L"] = true
		for _, e := range v.Value {
			switch ev := e.(type) {
			case *types.AttributeValueMemberS:
				s.elemKinds["S"] = true
			case *types.AttributeValueMemberN:
				s.elemKinds["N"] = true
				s.setNum.add(ev.Value)
			case *types.AttributeValueMemberB:
				s.elemKinds["B"] = true
			case *types.AttributeValueMemberBOOL:
				s.elemKinds["BOOL"] = true
			default: // NULL, nested L or M: not a flat array
				s.elemKinds["other"] = true
			}
		}
	}
}

var scalarKinds = map[string]Kind{"S": KindString, "B": KindBinary, "BOOL": KindBoolean}

// typ is the column type for what was seen; Kind 0 means no column.
func (s *attrStats) typ() Type {
	if len(s.kinds) == 0 {
		return Type{}
	}
	if len(s.kinds) > 1 {
		for k := range s.kinds {
			if _, ok := scalarKinds[k]; !ok && k != "N" {
				return Type{Kind: KindJSON}
			}
		}
		return Type{Kind: KindString}
	}
	var only string
	for k := range s.kinds {
		only = k
	}
	switch only {
	case "N":
		return s.num.typ()
	case "M":
		return Type{Kind: KindJSON}
	case "SS":
		return Type{Kind: KindString, Array: true}
	case "BS":
		return Type{Kind: KindBinary, Array: true}
	case "NS":
		t := s.setNum.typ()
		t.Array = true
		return t
	case "L":
		if len(s.elemKinds) > 1 || s.elemKinds["other"] {
			return Type{Kind: KindJSON}
		}
		if len(s.elemKinds) == 0 { // only empty lists seen
			return Type{Kind: KindJSON}
		}
		for k := range s.elemKinds {
			if k == "N" {
				t := s.setNum.typ()
				t.Array = true
				return t
			}
			return Type{Kind: scalarKinds[k], Array: true}
		}
	}
	return Type{Kind: scalarKinds[only]}
}
