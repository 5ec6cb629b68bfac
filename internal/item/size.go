package item

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Size approximates an item's size by DynamoDB's rules: attribute names
// plus values; numbers take about one byte per two significant digits plus
// one; lists and maps 3 bytes plus one per element.
func Size(it Item) int64 {
	var n int64
	for name, v := range it {
		n += int64(len(name)) + valueSize(v)
	}
	return max(n, 1)
}

func valueSize(v types.AttributeValue) int64 {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return int64(len(v.Value))
	case *types.AttributeValueMemberN:
		return numberSize(v.Value)
	case *types.AttributeValueMemberB:
		return int64(len(v.Value))
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		var n int64
		for _, s := range v.Value {
			n += int64(len(s))
		}
		return n
	case *types.AttributeValueMemberNS:
		var n int64
		for _, s := range v.Value {
			n += numberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		var n int64
		for _, b := range v.Value {
			n += int64(len(b))
		}
		return n
	case *types.AttributeValueMemberL:
		n := int64(3)
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := int64(3)
		for k, e := range v.Value {
			n += 1 + int64(len(k)) + valueSize(e)
		}
		return n
	}
	return 1
}

// numberSize counts the digits before the exponent (without allocating:
// it runs for every number of every item a snapshot writes).
func numberSize(s string) int64 {
	digits := 0
	for i := 0; i < len(s) && s[i] != 'e' && s[i] != 'E'; i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			digits++
		}
	}
	return int64((digits+1)/2 + 1)
}
