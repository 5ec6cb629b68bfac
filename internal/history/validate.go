package history

import (
	"fmt"
	"path"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
)

// itemCheck is what a walk with Validate checks of every version it
// reads: a DynamoDB item DynamoDB would accept (item.Validate), whose key
// attributes hash to its own object id, none of them empty. The key's
// names are learned from the first item (keyschema.Infer), then every
// item is checked against them: one hash per item.
type itemCheck struct {
	keys atomic.Pointer[[]string]
}

func (c *itemCheck) check(src Source, e Entry, it item.Item) error {
	if err := item.Validate(it); err != nil {
		return fmt.Errorf("%w: %s is not a DynamoDB item: %v", ErrBadObject, where(src, e), err)
	}
	id := path.Base(e.Key)
	if len(id) != 64 {
		// Not a SHA-256 id (dynamodb-replicator's MD5 ids): the key
		// cannot be checked against it.
		return nil
	}
	// One hash with the key names learned; Infer (a hash per candidate)
	// only when they do not fit, as for the first item, or a source whose
	// items are not all keyed alike.
	var keys []string
	if p := c.keys.Load(); p != nil {
		if got, err := item.KeyID(it, *p...); err == nil && got == id {
			keys = *p
		}
	}
	if keys == nil {
		attrs, _, err := keyschema.Infer(it, e.Key)
		if err != nil {
			return fmt.Errorf("%w: %s does not hold the item its key names: no attribute of it hashes to its object id (an item stored under another item's key, or without its key attributes)", ErrBadObject, where(src, e))
		}
		for _, a := range attrs {
			keys = append(keys, a.Name)
		}
		c.keys.Store(&keys)
	}
	if k, what := EmptyKeyAttribute(it, keys); k != "" {
		return fmt.Errorf("%w: %s has an empty %s as its key attribute %s, which DynamoDB refuses", ErrBadObject, where(src, e), what, k)
	}
	return nil
}

// EmptyKeyAttribute is the first of keys whose value in it is an empty
// string or binary, which DynamoDB refuses in a key, and what it is
// ("string" or "binary"); "" when there is none.
func EmptyKeyAttribute(it item.Item, keys []string) (name, what string) {
	for _, k := range keys {
		switch v := it[k].(type) {
		case *types.AttributeValueMemberS:
			if v.Value == "" {
				return k, "string"
			}
		case *types.AttributeValueMemberB:
			if len(v.Value) == 0 {
				return k, "binary"
			}
		}
	}
	return "", ""
}

// canonical checks a body that is canonical JSON as check checks an item,
// without decoding it, once the key's names are learned: ok=false leaves
// the body to the decoding path (which learns the names, and explains
// what is wrong). n is the item's size.
func (c *itemCheck) canonical(e Entry, body []byte) (n int64, ok bool) {
	p := c.keys.Load()
	if p == nil {
		return 0, false
	}
	id := path.Base(e.Key)
	if len(id) != 64 {
		id = "" // not a SHA-256 id: the key cannot be checked against it
	}
	return CanonicalItem(body, *p, id)
}

// CanonicalItem is the walk's check of an item whose body is canonical
// JSON, without decoding it: a valid DynamoDB item with the key attributes
// keys, which hash to the object id id (unless id is ""); n is its size.
// ok=false leaves the body to the check that decodes it (and explains what
// is wrong).
func CanonicalItem(body []byte, keys []string, id string) (n int64, ok bool) {
	n, key, ok := item.ValidCanonical(body, keys)
	if !ok || key == nil {
		return 0, false
	}
	if id != "" && item.ObjectID(key) != id {
		return 0, false
	}
	return n, true
}
