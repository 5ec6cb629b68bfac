package restore

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
)

// MaxExpression is DynamoDB's limit on one expression string (4 KB).
const MaxExpression = 4096

// ErrConditionTooBig means an item has too many attributes for a
// condition on every one of them to fit in MaxExpression.
var ErrConditionTooBig = errors.New("too many attributes to compare in one condition expression (4 KB)")

// Condition is a ConditionExpression with its substitutions.
type Condition struct {
	Expression string
	Names      map[string]string
	Values     map[string]types.AttributeValue
}

// StateCondition is a condition that holds while the item of a key is in
// state (nil: absent): the undo's guard against a concurrent write
// (docs/DESIGN.md §7). hashKey names the table's partition key.
//
// Present, every attribute of state must be there with its value: scalars
// and sets with =, NULL with attribute_type. A map or list is compared
// element by element through its document paths, with size() for the
// count, which DynamoDB evaluates exactly as = on the whole value ("EQ is
// supported for all data types, including lists and maps") and which
// emulators that compare documents by reference also get right; when that
// does not fit in 4 KB, = on the whole value. An attribute the live item
// has beyond state is not seen: a condition cannot count attributes.
func StateCondition(state item.Item, hashKey string) (*Condition, error) {
	if state == nil {
		b := newCondBuilder()
		b.parts = append(b.parts, "attribute_not_exists("+b.name(hashKey)+")")
		return b.done(), nil
	}
	for _, expand := range []bool{true, false} {
		b := newCondBuilder()
		names := make([]string, 0, len(state))
		for n := range state {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			b.add(b.name(n), state[n], expand, 1)
		}
		if c := b.done(); len(c.Expression) <= MaxExpression {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: %d attributes", ErrConditionTooBig, len(state))
}

type condBuilder struct {
	parts  []string
	names  map[string]string // attribute name -> placeholder
	values map[string]types.AttributeValue
}

func newCondBuilder() *condBuilder {
	return &condBuilder{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

func (b *condBuilder) name(n string) string {
	if p, ok := b.names[n]; ok {
		return p
	}
	p := "#" + strconv.Itoa(len(b.names))
	b.names[n] = p
	return p
}

func (b *condBuilder) value(v types.AttributeValue) string {
	p := ":" + strconv.Itoa(len(b.values))
	b.values[p] = v
	return p
}

func (b *condBuilder) typeIs(path, t string) {
	b.parts = append(b.parts, fmt.Sprintf("attribute_type(%s, %s)", path, b.value(&types.AttributeValueMemberS{Value: t})))
}

// maxDepth is how deep a condition follows a document path (DynamoDB
// allows 32 levels); deeper values are compared whole.
const maxDepth = 30

func (b *condBuilder) add(path string, v types.AttributeValue, expand bool, depth int) {
	expand = expand && depth < maxDepth
	switch v := v.(type) {
	case *types.AttributeValueMemberNULL:
		b.typeIs(path, "NULL")
		return
	case *types.AttributeValueMemberM:
		if expand {
			b.typeIs(path, "M")
			b.parts = append(b.parts, fmt.Sprintf("size(%s) = %s", path, b.value(&types.AttributeValueMemberN{Value: strconv.Itoa(len(v.Value))})))
			keys := make([]string, 0, len(v.Value))
			for k := range v.Value {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				b.add(path+"."+b.name(k), v.Value[k], true, depth+1)
			}
			return
		}
	case *types.AttributeValueMemberL:
		if expand {
			b.typeIs(path, "L")
			b.parts = append(b.parts, fmt.Sprintf("size(%s) = %s", path, b.value(&types.AttributeValueMemberN{Value: strconv.Itoa(len(v.Value))})))
			for i, e := range v.Value {
				b.add(fmt.Sprintf("%s[%d]", path, i), e, true, depth+1)
			}
			return
		}
	}
	b.parts = append(b.parts, path+" = "+b.value(v))
}

func (b *condBuilder) done() *Condition {
	names := make(map[string]string, len(b.names))
	for n, p := range b.names {
		names[p] = n
	}
	c := &Condition{Expression: strings.Join(b.parts, " AND "), Names: names}
	if len(b.values) > 0 {
		c.Values = b.values
	}
	return c
}
