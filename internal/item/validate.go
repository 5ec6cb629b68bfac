package item

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Validate checks what the decoder's syntax checks leave to DynamoDB:
// numbers within DynamoDB's range (1E-130 to 9.99…E+125 in magnitude),
// sets neither empty nor holding a value twice. A snapshot holds only
// items DynamoDB would accept (docs/DESIGN.md §5.9).
func Validate(it Item) error {
	for name, v := range it {
		if err := validateValue("$."+name, v); err != nil {
			return err
		}
	}
	return nil
}

func validateValue(path string, v types.AttributeValue) error {
	switch v := v.(type) {
	case *types.AttributeValueMemberN:
		return checkRange(path, v.Value)
	case *types.AttributeValueMemberSS:
		return checkSet(path, "string", v.Value, func(s string) string { return s })
	case *types.AttributeValueMemberBS:
		keys := make([]string, len(v.Value))
		for i, b := range v.Value {
			keys[i] = string(b)
		}
		return checkSet(path, "binary", keys, func(s string) string { return s })
	case *types.AttributeValueMemberNS:
		for _, n := range v.Value {
			if err := checkRange(path, n); err != nil {
				return err
			}
		}
		// Numbers are one value however written: 1 and 1.0 are a duplicate.
		return checkSet(path, "number", v.Value, func(s string) string {
			r, ok := new(big.Rat).SetString(s)
			if !ok {
				return s
			}
			return r.RatString()
		})
	case *types.AttributeValueMemberL:
		for i, e := range v.Value {
			if err := validateValue(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	case *types.AttributeValueMemberM:
		for k, e := range v.Value {
			if err := validateValue(path+"."+k, e); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkSet(path, kind string, vals []string, norm func(string) string) error {
	if len(vals) == 0 {
		return fmt.Errorf("item at %s: an empty %s set, which DynamoDB does not store", path, kind)
	}
	seen := make(map[string]bool, len(vals))
	for _, s := range vals {
		k := norm(s)
		if seen[k] {
			return fmt.Errorf("item at %s: the %s set holds %q twice, which DynamoDB refuses", path, kind, s)
		}
		seen[k] = true
	}
	return nil
}

// checkRange refuses a number whose magnitude DynamoDB cannot store.
func checkRange(path, s string) error {
	m, exp := strings.TrimLeft(s, "+-"), 0
	if i := strings.IndexAny(m, "eE"); i >= 0 {
		e, ok := new(big.Int).SetString(strings.TrimPrefix(m[i+1:], "+"), 10)
		if !ok || !e.IsInt64() || e.Int64() > 1<<20 || e.Int64() < -(1<<20) {
			return fmt.Errorf("item at %s: number %q is out of DynamoDB's range", path, s)
		}
		exp, m = int(e.Int64()), m[:i]
	}
	intPart, frac, _ := strings.Cut(m, ".")
	intPart = strings.TrimLeft(intPart, "0")
	var adj int
	switch {
	case intPart != "":
		adj = len(intPart) - 1 + exp
	default:
		z := len(frac) - len(strings.TrimLeft(frac, "0"))
		if z == len(frac) {
			return nil // zero
		}
		adj = -(z + 1) + exp
	}
	if adj > 125 || adj < -130 {
		return fmt.Errorf("item at %s: number %q is out of DynamoDB's range (1E-130 to 9.99E+125 in magnitude)", path, s)
	}
	return nil
}
