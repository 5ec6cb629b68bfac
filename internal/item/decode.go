// Package item converts DynamoDB items between DynamoDB JSON
// ({"attr":{"S":"v"}}) and the SDK's types.AttributeValue, exactly: numbers
// stay decimal strings, binaries stay bytes, sets keep their order. It also
// derives the canonical key and object id that name an item's backup object.
package item

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Item is one DynamoDB item: attribute name to value.
type Item = map[string]types.AttributeValue

// Unmarshal decodes an item written as DynamoDB JSON. Errors name the
// attribute path where the input goes wrong, e.g. `$.tags.L[2]`.
func Unmarshal(data []byte) (Item, error) {
	if it, ok := fastUnmarshal(data); ok {
		return it, nil
	}
	return carefulUnmarshal(data)
}

// carefulUnmarshal decodes with encoding/json level by level: slow, but it
// decides every odd case as encoding/json does and names where input fails.
func carefulUnmarshal(data []byte) (Item, error) {
	var raw map[string]json.RawMessage
	if err := strictUnmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("item at $: %w", describeJSONError(data, err, "an object of attributes"))
	}
	if raw == nil {
		return nil, fmt.Errorf("item at $: null is not an item")
	}
	return decodeMap(raw, "$")
}

// UnmarshalValue decodes one attribute value such as {"N":"1"}.
func UnmarshalValue(data []byte) (types.AttributeValue, error) {
	return decodeValue(data, "$")
}

func decodeMap(raw map[string]json.RawMessage, path string) (Item, error) {
	out := make(Item, len(raw))
	for name, v := range raw {
		av, err := decodeValue(v, path+"."+name)
		if err != nil {
			return nil, err
		}
		out[name] = av
	}
	return out, nil
}

func decodeValue(data []byte, path string) (types.AttributeValue, error) {
	var wrapper map[string]json.RawMessage
	if err := strictUnmarshal(data, &wrapper); err != nil {
		return nil, fmt.Errorf("item at %s: %w", path, describeJSONError(data, err, `an attribute value like {"S":"..."}`))
	}
	if len(wrapper) != 1 {
		return nil, fmt.Errorf("item at %s: an attribute value needs exactly one type key (S, N, B, SS, NS, BS, M, L, NULL, BOOL), found %d", path, len(wrapper))
	}
	for typ, body := range wrapper {
		p := path + "." + typ
		switch typ {
		case "S":
			s, err := decodeString(body, p)
			if err != nil {
				return nil, err
			}
			return &types.AttributeValueMemberS{Value: s}, nil
		case "N":
			n, err := decodeNumber(body, p)
			if err != nil {
				return nil, err
			}
			return &types.AttributeValueMemberN{Value: n}, nil
		case "B":
			b, err := decodeBinary(body, p)
			if err != nil {
				return nil, err
			}
			return &types.AttributeValueMemberB{Value: b}, nil
		case "BOOL":
			var b bool
			if err := strictUnmarshal(body, &b); err != nil || isNull(body) {
				return nil, fmt.Errorf("item at %s: want true or false, got %s", p, snippet(body))
			}
			return &types.AttributeValueMemberBOOL{Value: b}, nil
		case "NULL":
			var b bool
			if err := strictUnmarshal(body, &b); err != nil || !b {
				return nil, fmt.Errorf("item at %s: NULL must be true, got %s", p, snippet(body))
			}
			return &types.AttributeValueMemberNULL{Value: true}, nil
		case "SS", "NS", "BS":
			elems, err := decodeArray(body, p)
			if err != nil {
				return nil, err
			}
			return decodeSet(typ, elems, p)
		case "L":
			elems, err := decodeArray(body, p)
			if err != nil {
				return nil, err
			}
			l := make([]types.AttributeValue, len(elems))
			for i, e := range elems {
				if l[i], err = decodeValue(e, fmt.Sprintf("%s[%d]", p, i)); err != nil {
					return nil, err
				}
			}
			return &types.AttributeValueMemberL{Value: l}, nil
		case "M":
			var m map[string]json.RawMessage
			if err := strictUnmarshal(body, &m); err != nil || m == nil {
				return nil, fmt.Errorf("item at %s: want an object of attributes, got %s", p, snippet(body))
			}
			mv, err := decodeMap(m, p)
			if err != nil {
				return nil, err
			}
			return &types.AttributeValueMemberM{Value: mv}, nil
		default:
			return nil, fmt.Errorf("item at %s: unknown attribute type %q (want S, N, B, SS, NS, BS, M, L, NULL or BOOL)", path, typ)
		}
	}
	panic("unreachable")
}

func decodeSet(typ string, elems []json.RawMessage, p string) (types.AttributeValue, error) {
	var err error
	switch typ {
	case "SS":
		ss := make([]string, len(elems))
		for i, e := range elems {
			if ss[i], err = decodeString(e, fmt.Sprintf("%s[%d]", p, i)); err != nil {
				return nil, err
			}
		}
		return &types.AttributeValueMemberSS{Value: ss}, nil
	case "NS":
		ns := make([]string, len(elems))
		for i, e := range elems {
			if ns[i], err = decodeNumber(e, fmt.Sprintf("%s[%d]", p, i)); err != nil {
				return nil, err
			}
		}
		return &types.AttributeValueMemberNS{Value: ns}, nil
	default:
		bs := make([][]byte, len(elems))
		for i, e := range elems {
			if bs[i], err = decodeBinary(e, fmt.Sprintf("%s[%d]", p, i)); err != nil {
				return nil, err
			}
		}
		return &types.AttributeValueMemberBS{Value: bs}, nil
	}
}

func decodeArray(body []byte, p string) ([]json.RawMessage, error) {
	var elems []json.RawMessage
	if err := strictUnmarshal(body, &elems); err != nil || elems == nil {
		return nil, fmt.Errorf("item at %s: want an array, got %s", p, snippet(body))
	}
	return elems, nil
}

func decodeString(body []byte, p string) (string, error) {
	var s string
	if err := strictUnmarshal(body, &s); err != nil || isNull(body) {
		return "", fmt.Errorf("item at %s: want a string, got %s", p, snippet(body))
	}
	return s, nil
}

func decodeNumber(body []byte, p string) (string, error) {
	s, err := decodeString(body, p)
	if err != nil {
		return "", fmt.Errorf("item at %s: a number is written as a string, got %s", p, snippet(body))
	}
	if err := ValidateNumber(s); err != nil {
		return "", fmt.Errorf("item at %s: %w", p, err)
	}
	return s, nil
}

func decodeBinary(body []byte, p string) ([]byte, error) {
	s, err := decodeString(body, p)
	if err != nil {
		return nil, fmt.Errorf("item at %s: a binary is written as a base64 string, got %s", p, snippet(body))
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("item at %s: binary is not valid base64: %v", p, err)
	}
	return b, nil
}

// ValidateNumber checks that s is a decimal number as DynamoDB writes one:
// optional sign, digits, optional fraction and exponent, at most 38
// significant digits. The string itself is kept unchanged.
func ValidateNumber(s string) error {
	if s == "" {
		return fmt.Errorf("number is empty")
	}
	i := 0
	if s[0] == '-' || s[0] == '+' {
		i++
	}
	digits, sig, leading := 0, 0, true
	seenDot := false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			if c != '0' || !leading {
				leading = false
				sig++
			}
		case c == '.' && !seenDot:
			seenDot = true
		case c == 'e' || c == 'E':
			if digits == 0 {
				return fmt.Errorf("number %q has no digits before its exponent", s)
			}
			if _, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+")); err != nil {
				return fmt.Errorf("number %q has a malformed exponent", s)
			}
			i = len(s)
		default:
			return fmt.Errorf("%q is not a number", s)
		}
	}
	if digits == 0 {
		return fmt.Errorf("%q is not a number", s)
	}
	if sig > 38 {
		// Trailing zeros of an integer are not significant to DynamoDB either.
		if t := strings.TrimRight(strings.SplitN(strings.SplitN(s, "e", 2)[0], "E", 2)[0], "0."); countDigits(t) > 38 {
			return fmt.Errorf("number %q has more than 38 significant digits", s)
		}
	}
	return nil
}

func countDigits(s string) int {
	n, leading := 0, true
	for _, c := range s {
		if c >= '0' && c <= '9' {
			if c != '0' || !leading {
				leading = false
				n++
			}
		}
	}
	return n
}

// strictUnmarshal is json.Unmarshal that also rejects trailing data.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}

func describeJSONError(data []byte, err error, want string) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("malformed JSON: input ends early")
	case errors.As(err, &syn):
		return fmt.Errorf("malformed JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Errorf("want %s, got %s", want, snippet(data))
	}
	return fmt.Errorf("want %s: %v", want, err)
}

func isNull(b []byte) bool { return string(bytes.TrimSpace(b)) == "null" }

func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
