// Package filter selects items: a CEL expression over the item's
// attributes (--where), or a prefix of the partition key (--key-prefix).
// Expressions are compiled before any I/O, so a typo fails at once with its
// position.
package filter

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
)

// Filter decides whether an item is selected.
type Filter struct {
	text      string
	prg       cel.Program
	keyAttr   string
	keyPrefix string
}

// New compiles --where and --key-prefix (either may be empty; both must
// hold when both are given). keyPrefix is ATTR=PREFIX, or a bare PREFIX
// when partitionKey names the table's partition key attribute.
func New(where, keyPrefix, partitionKey string) (*Filter, error) {
	f := &Filter{text: where}
	if keyPrefix != "" {
		if attr, prefix, ok := strings.Cut(keyPrefix, "="); ok && attr != "" {
			f.keyAttr, f.keyPrefix = attr, prefix
		} else if partitionKey != "" {
			f.keyAttr, f.keyPrefix = partitionKey, keyPrefix
		} else {
			return nil, fmt.Errorf("--key-prefix %q: name the partition key attribute, e.g. --key-prefix pk=%s", keyPrefix, keyPrefix)
		}
	}
	if where == "" {
		return f, nil
	}
	env, err := cel.NewEnv(
		cel.Variable("item", cel.MapType(cel.StringType, cel.DynType)),
		cel.CrossTypeNumericComparisons(true),
	)
	if err != nil {
		return nil, fmt.Errorf("expression environment: %w", err)
	}
	ast, iss := env.Compile(where)
	if iss.Err() != nil {
		return nil, fmt.Errorf("--where: %w", iss.Err())
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return nil, fmt.Errorf("--where %q gives a %s, not true or false", where, t)
	}
	if f.prg, err = env.Program(ast); err != nil {
		return nil, fmt.Errorf("--where: %w", err)
	}
	return f, nil
}

// String describes the filter for manifests and logs.
func (f *Filter) String() string {
	var parts []string
	if f.keyAttr != "" {
		parts = append(parts, fmt.Sprintf("key-prefix %s=%q", f.keyAttr, f.keyPrefix))
	}
	if f.text != "" {
		parts = append(parts, "where "+f.text)
	}
	return strings.Join(parts, " and ")
}

// Match reports whether it is selected. An item the expression cannot be
// evaluated on because it lacks an attribute the expression reads is not
// selected; any other evaluation error is returned.
func (f *Filter) Match(it item.Item) (bool, error) {
	if f == nil {
		return true, nil
	}
	if f.keyAttr != "" {
		var s string
		switch v := it[f.keyAttr].(type) {
		case *ddb.AttributeValueMemberS:
			s = v.Value
		case *ddb.AttributeValueMemberN:
			s = v.Value
		default:
			return false, nil
		}
		if !strings.HasPrefix(s, f.keyPrefix) {
			return false, nil
		}
	}
	if f.prg == nil {
		return true, nil
	}
	out, _, err := f.prg.Eval(map[string]any{"item": Native(it)})
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return false, nil
		}
		return false, fmt.Errorf("--where %q: %w", f.text, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("--where %q gave %v, not true or false", f.text, out.Value())
	}
	return b, nil
}

// Native converts an item to the values an expression sees: S as string,
// N as int when it is a whole number that fits, else double, B as bytes,
// sets and lists as lists, M as a map, NULL as null, BOOL as bool.
func Native(it item.Item) map[string]any {
	m := make(map[string]any, len(it))
	for k, v := range it {
		m[k] = nativeValue(v)
	}
	return m
}

func nativeValue(v ddb.AttributeValue) any {
	switch v := v.(type) {
	case *ddb.AttributeValueMemberS:
		return v.Value
	case *ddb.AttributeValueMemberN:
		return number(v.Value)
	case *ddb.AttributeValueMemberB:
		return v.Value
	case *ddb.AttributeValueMemberBOOL:
		return v.Value
	case *ddb.AttributeValueMemberNULL:
		return nil
	case *ddb.AttributeValueMemberSS:
		l := make([]any, len(v.Value))
		for i, s := range v.Value {
			l[i] = s
		}
		return l
	case *ddb.AttributeValueMemberNS:
		l := make([]any, len(v.Value))
		for i, s := range v.Value {
			l[i] = number(s)
		}
		return l
	case *ddb.AttributeValueMemberBS:
		l := make([]any, len(v.Value))
		for i, b := range v.Value {
			l[i] = b
		}
		return l
	case *ddb.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = nativeValue(e)
		}
		return l
	case *ddb.AttributeValueMemberM:
		return Native(v.Value)
	}
	return nil
}

func number(s string) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return s
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return f
}

// AnyMatches reports whether any of the images present (nil ones are
// passed over) matches: a change is selected when its old or its new image
// is.
func AnyMatches(match func(item.Item) (bool, error), images ...item.Item) (bool, error) {
	for _, it := range images {
		if it == nil {
			continue
		}
		if ok, err := match(it); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}
