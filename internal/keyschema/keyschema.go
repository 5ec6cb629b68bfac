// Package keyschema knows a table's key: read from DescribeTable, parsed
// from a flag ("pk:S,sk:N"), or inferred from a backed-up item and its
// object id (the id is the SHA-256 of the key attributes, so exactly one
// choice of attributes reproduces it).
package keyschema

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
)

// Attr is one key attribute: its name and scalar type (S, N or B).
type Attr struct {
	Name string
	Type types.ScalarAttributeType
}

// Schema is a table's primary key; Range is zero for a hash-only key.
type Schema struct {
	Hash, Range Attr
}

// Names lists the key attribute names, hash first.
func (s Schema) Names() []string {
	if s.Range.Name == "" {
		return []string{s.Hash.Name}
	}
	return []string{s.Hash.Name, s.Range.Name}
}

func (s Schema) String() string {
	out := s.Hash.Name + ":" + string(s.Hash.Type)
	if s.Range.Name != "" {
		out += "," + s.Range.Name + ":" + string(s.Range.Type)
	}
	return out
}

// Key returns the key attributes of it.
func (s Schema) Key(it item.Item) (item.Item, error) {
	k := make(item.Item, 2)
	for _, n := range s.Names() {
		v, ok := it[n]
		if !ok {
			return nil, fmt.Errorf("item has no key attribute %q (table key %s)", n, s)
		}
		k[n] = v
	}
	return k, nil
}

// KeyID is the object id of the item under this key schema.
func (s Schema) KeyID(it item.Item) (string, error) { return item.KeyID(it, s.Names()...) }

// Definition returns the KeySchema and AttributeDefinitions of CreateTable.
func (s Schema) Definition() ([]types.KeySchemaElement, []types.AttributeDefinition) {
	ks := []types.KeySchemaElement{{AttributeName: aws.String(s.Hash.Name), KeyType: types.KeyTypeHash}}
	ad := []types.AttributeDefinition{{AttributeName: aws.String(s.Hash.Name), AttributeType: s.Hash.Type}}
	if s.Range.Name != "" {
		ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(s.Range.Name), KeyType: types.KeyTypeRange})
		ad = append(ad, types.AttributeDefinition{AttributeName: aws.String(s.Range.Name), AttributeType: s.Range.Type})
	}
	return ks, ad
}

// Parse reads "hash:TYPE[,range:TYPE]", e.g. "pk:S,sk:N".
func Parse(s string) (Schema, error) {
	parts := strings.Split(s, ",")
	if len(parts) < 1 || len(parts) > 2 {
		return Schema{}, fmt.Errorf("key schema %q: want HASH:TYPE or HASH:TYPE,RANGE:TYPE, e.g. pk:S,sk:N", s)
	}
	var attrs []Attr
	for _, p := range parts {
		name, typ, ok := strings.Cut(strings.TrimSpace(p), ":")
		if !ok || name == "" {
			return Schema{}, fmt.Errorf("key schema %q: %q is not NAME:TYPE (TYPE is S, N or B)", s, p)
		}
		switch typ {
		case "S", "N", "B":
		default:
			return Schema{}, fmt.Errorf("key schema %q: type %q of %s is not S, N or B", s, typ, name)
		}
		attrs = append(attrs, Attr{name, types.ScalarAttributeType(typ)})
	}
	out := Schema{Hash: attrs[0]}
	if len(attrs) == 2 {
		out.Range = attrs[1]
	}
	return out, nil
}

// ErrNoTable means the table does not exist.
var ErrNoTable = errors.New("table does not exist")

// DescribeTableAPI is the one call FromTable makes; *dynamodb.Client has
// it, and restore's tests fake it.
type DescribeTableAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// FromTable reads the key schema of an existing table.
func FromTable(ctx context.Context, client DescribeTableAPI, table string) (Schema, error) {
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return Schema{}, fmt.Errorf("table %s: %w", table, ErrNoTable)
		}
		return Schema{}, fmt.Errorf("describe table %s: %w", table, err)
	}
	types := map[string]types.ScalarAttributeType{}
	for _, d := range out.Table.AttributeDefinitions {
		types[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	var s Schema
	for _, k := range out.Table.KeySchema {
		a := Attr{aws.ToString(k.AttributeName), types[aws.ToString(k.AttributeName)]}
		if k.KeyType == "HASH" {
			s.Hash = a
		} else {
			s.Range = a
		}
	}
	if s.Hash.Name == "" {
		return Schema{}, fmt.Errorf("describe table %s: no HASH key in its key schema", table)
	}
	return s, nil
}

// Infer finds which attributes of it are the key, given the object key it
// was backed up under (<prefix>/<table>/<sha256 of the canonical key>).
// With two key attributes the canonical key does not say which one is the
// partition key: Infer then returns them sorted by name and ambiguous=true.
func Infer(it item.Item, objectKey string) (attrs []Attr, ambiguous bool, err error) {
	id := path.Base(objectKey)
	var cands []string
	for name, v := range it {
		switch v.(type) {
		case *types.AttributeValueMemberS, *types.AttributeValueMemberN, *types.AttributeValueMemberB:
			cands = append(cands, name)
		}
	}
	sort.Strings(cands)
	attr := func(n string) Attr { return Attr{n, typeOf(it[n])} }
	for _, a := range cands {
		if got, _ := item.KeyID(it, a); got == id {
			return []Attr{attr(a)}, false, nil
		}
	}
	for i, a := range cands {
		for _, b := range cands[i+1:] {
			if got, _ := item.KeyID(it, a, b); got == id {
				return []Attr{attr(a), attr(b)}, true, nil
			}
		}
	}
	return nil, false, fmt.Errorf("no one or two attributes of the item hash to its object id %s: not written by dynasnap or dynamodb-replicator with SHA-256 ids; give the key schema explicitly", id)
}

func typeOf(v types.AttributeValue) types.ScalarAttributeType {
	switch v.(type) {
	case *types.AttributeValueMemberN:
		return types.ScalarAttributeTypeN
	case *types.AttributeValueMemberB:
		return types.ScalarAttributeTypeB
	}
	return types.ScalarAttributeTypeS
}
