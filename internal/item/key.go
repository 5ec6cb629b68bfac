package item

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// CanonicalKey encodes the key attributes of an item (keys lists their
// names; an empty list means the item is the key) as compact DynamoDB JSON
// sorted by attribute name: the same item gives the same bytes whatever
// order its attributes came in.
func CanonicalKey(it Item, keys ...string) ([]byte, error) {
	k := it
	if len(keys) > 0 {
		k = make(Item, len(keys))
		for _, name := range keys {
			v, ok := it[name]
			if !ok {
				return nil, fmt.Errorf("item has no key attribute %q", name)
			}
			k[name] = v
		}
	}
	if len(k) == 0 {
		return nil, fmt.Errorf("item key is empty")
	}
	for name, v := range k {
		switch v.(type) {
		case *types.AttributeValueMemberS, *types.AttributeValueMemberN, *types.AttributeValueMemberB:
		default:
			return nil, fmt.Errorf("key attribute %q has type %T; a key is S, N or B", name, v)
		}
	}
	return Marshal(k)
}

// ObjectID is the hex SHA-256 of a canonical key: the last element of the
// item's object key in the backup layout.
func ObjectID(canonicalKey []byte) string {
	sum := sha256.Sum256(canonicalKey)
	return hex.EncodeToString(sum[:])
}

// KeyID returns the object id of the item's key attributes.
func KeyID(it Item, keys ...string) (string, error) {
	ck, err := CanonicalKey(it, keys...)
	if err != nil {
		return "", err
	}
	return ObjectID(ck), nil
}
