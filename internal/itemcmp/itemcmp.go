// Package itemcmp compares DynamoDB items by meaning, not by bytes: DynamoDB
// returns sets in any order and numbers normalized ("1.50" comes back as
// "1.5"), so a table read back after a restore is equal to its snapshot even
// where the JSON differs.
package itemcmp

import (
	"bytes"
	"crypto/sha256"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
)

// Canonical encodes an item so that two items DynamoDB considers equal give
// the same bytes: attribute names sorted, set elements sorted, numbers in one
// normal form.
func Canonical(it item.Item) ([]byte, error) {
	return item.Marshal(normalizeMap(it))
}

// Digest is the SHA-256 of Canonical.
func Digest(it item.Item) ([32]byte, error) {
	b, err := Canonical(it)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// Equal reports whether two values are equal by meaning.
func Equal(a, b types.AttributeValue) bool {
	x, err1 := item.MarshalValue(normalize(a))
	y, err2 := item.MarshalValue(normalize(b))
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

func normalizeMap(m map[string]types.AttributeValue) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(m))
	for k, v := range m {
		out[k] = normalize(v)
	}
	return out
}

func normalize(v types.AttributeValue) types.AttributeValue {
	switch v := v.(type) {
	case *types.AttributeValueMemberN:
		return &types.AttributeValueMemberN{Value: NormalizeNumber(v.Value)}
	case *types.AttributeValueMemberSS:
		s := append([]string(nil), v.Value...)
		sort.Strings(s)
		return &types.AttributeValueMemberSS{Value: s}
	case *types.AttributeValueMemberNS:
		s := make([]string, len(v.Value))
		for i, n := range v.Value {
			s[i] = NormalizeNumber(n)
		}
		sort.Strings(s)
		return &types.AttributeValueMemberNS{Value: s}
	case *types.AttributeValueMemberBS:
		s := append([][]byte(nil), v.Value...)
		sort.Slice(s, func(i, j int) bool { return bytes.Compare(s[i], s[j]) < 0 })
		return &types.AttributeValueMemberBS{Value: s}
	case *types.AttributeValueMemberL:
		l := make([]types.AttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = normalize(e)
		}
		return &types.AttributeValueMemberL{Value: l}
	case *types.AttributeValueMemberM:
		return &types.AttributeValueMemberM{Value: normalizeMap(v.Value)}
	}
	return v
}

// NormalizeNumber writes a decimal number as <sign><digits>e<exponent> with
// no leading or trailing zeros in the digits, so "1.50", "15E-1" and
// "+1.5" all become "15e-1". Zero is "0". The input is trusted to be a
// valid DynamoDB number (item.ValidateNumber).
func NormalizeNumber(s string) string {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil {
			return s // not a number: compare as written
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= len(frac)
	if digits == "" {
		return "0"
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	sign := ""
	if neg {
		sign = "-"
	}
	return sign + trimmed + "e" + strconv.Itoa(exp)
}
