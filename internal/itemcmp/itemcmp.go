// Package itemcmp compares DynamoDB items by meaning, not by bytes: DynamoDB
// returns sets in any order and numbers normalized ("1.50" comes back as
// "1.5"), so a table read back after a restore is equal to its snapshot even
// where the JSON differs.
package itemcmp

import (
	"bytes"
	"crypto/sha256"
	"sort"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
)

// Canonical encodes an item so that two items DynamoDB considers equal give
// the same bytes: attribute names sorted, set elements sorted, numbers in one
// normal form (item.AppendCanonical).
func Canonical(it item.Item) ([]byte, error) {
	return item.AppendCanonical(nil, it)
}

// Digest is the SHA-256 of Canonical.
func Digest(it item.Item) ([32]byte, error) {
	var buf [1024]byte
	b, err := item.AppendCanonical(buf[:0], it)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// Equal reports whether two values are equal by meaning.
func Equal(a, b types.AttributeValue) bool {
	x, err1 := item.AppendCanonicalValue(nil, a)
	y, err2 := item.AppendCanonicalValue(nil, b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// Changes lists the top-level attributes added, removed and changed from
// old to new, each sorted by name.
func Changes(old, new item.Item) (added, removed, changed []string) {
	for name, v := range new {
		ov, ok := old[name]
		switch {
		case !ok:
			added = append(added, name)
		case !Equal(ov, v):
			changed = append(changed, name)
		}
	}
	for name := range old {
		if _, ok := new[name]; !ok {
			removed = append(removed, name)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(changed)
	return added, removed, changed
}

// NormalizeNumber writes a decimal number as <sign><digits>e<exponent> with
// no leading or trailing zeros in the digits, so "1.50", "15E-1" and
// "+1.5" all become "15e-1". Zero is "0" (item.AppendNormalNumber).
func NormalizeNumber(s string) string {
	return string(item.AppendNormalNumber(nil, s))
}
