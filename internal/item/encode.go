package item

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Marshal encodes an item as compact DynamoDB JSON with attribute names
// sorted, so one item always encodes to the same bytes.
func Marshal(it Item) ([]byte, error) {
	return AppendItem(nil, it)
}

// AppendItem appends the encoding of it to dst.
func AppendItem(dst []byte, it Item) ([]byte, error) {
	return encoder{}.appendMap(dst, it)
}

// MarshalValue encodes one attribute value.
func MarshalValue(v types.AttributeValue) ([]byte, error) {
	return encoder{}.appendValue(nil, v)
}

// AppendCanonical appends the item encoded so that two items DynamoDB
// considers equal give the same bytes: as AppendItem, with set elements
// sorted and numbers in one normal form (AppendNormalNumber). It builds no
// normalized copy of the item: comparing items by meaning is on the
// path of every audited and verified item.
func AppendCanonical(dst []byte, it Item) ([]byte, error) {
	return encoder{canonical: true}.appendMap(dst, it)
}

// AppendCanonicalValue is AppendCanonical for one attribute value.
func AppendCanonicalValue(dst []byte, v types.AttributeValue) ([]byte, error) {
	return encoder{canonical: true}.appendValue(dst, v)
}

// AppendItemAndCanonical appends the item's AppendItem encoding to raw and
// its AppendCanonical encoding to canon in one walk of the item: the
// attribute names are sorted and every string escaped once, the canonical
// side copying the bytes wherever the two agree (all but numbers and
// sets). An audit needs both of every item it scans.
func AppendItemAndCanonical(raw, canon []byte, it Item) ([]byte, []byte, error) {
	return appendMapTwice(raw, canon, it)
}

func appendMapTwice(raw, canon []byte, m map[string]types.AttributeValue) ([]byte, []byte, error) {
	var small [16]string
	names := small[:0]
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	raw = append(raw, '{')
	canon = append(canon, '{')
	var err error
	for i, k := range names {
		if i > 0 {
			raw = append(raw, ',')
			canon = append(canon, ',')
		}
		start := len(raw)
		raw = AppendString(raw, k)
		raw = append(raw, ':')
		canon = append(canon, raw[start:]...)
		if raw, canon, err = appendValueTwice(raw, canon, m[k]); err != nil {
			return nil, nil, at(err, "."+k)
		}
	}
	return append(raw, '}'), append(canon, '}'), nil
}

func appendValueTwice(raw, canon []byte, v types.AttributeValue) ([]byte, []byte, error) {
	var err error
	switch v := v.(type) {
	case *types.AttributeValueMemberL:
		raw = append(raw, `{"L":[`...)
		canon = append(canon, `{"L":[`...)
		for i, x := range v.Value {
			if i > 0 {
				raw = append(raw, ',')
				canon = append(canon, ',')
			}
			if raw, canon, err = appendValueTwice(raw, canon, x); err != nil {
				return nil, nil, at(err, "["+strconv.Itoa(i)+"]")
			}
		}
		return append(raw, "]}"...), append(canon, "]}"...), nil
	case *types.AttributeValueMemberM:
		raw = append(raw, `{"M":`...)
		canon = append(canon, `{"M":`...)
		if raw, canon, err = appendMapTwice(raw, canon, v.Value); err != nil {
			return nil, nil, err
		}
		return append(raw, '}'), append(canon, '}'), nil
	case *types.AttributeValueMemberN, *types.AttributeValueMemberSS, *types.AttributeValueMemberNS, *types.AttributeValueMemberBS:
		if raw, err = (encoder{}).appendValue(raw, v); err != nil {
			return nil, nil, err
		}
		canon, err = encoder{canonical: true}.appendValue(canon, v)
		return raw, canon, err
	}
	start := len(raw)
	if raw, err = (encoder{}).appendValue(raw, v); err != nil {
		return nil, nil, err
	}
	return raw, append(canon, raw[start:]...), nil
}

type encoder struct{ canonical bool }

// encodeError is an attribute that cannot be encoded; its path is built
// only once the error is known, as the recursion unwinds.
type encodeError struct {
	path []string // innermost first
	v    types.AttributeValue
}

func (e *encodeError) Error() string {
	var b strings.Builder
	b.WriteString("$")
	for i := len(e.path) - 1; i >= 0; i-- {
		b.WriteString(e.path[i])
	}
	return fmt.Sprintf("item at %s: cannot encode attribute value of type %T", b.String(), e.v)
}

func at(err error, elem string) error {
	if e, ok := err.(*encodeError); ok {
		e.path = append(e.path, elem)
	}
	return err
}

func (e encoder) appendMap(dst []byte, m map[string]types.AttributeValue) ([]byte, error) {
	var small [16]string
	names := small[:0]
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	dst = append(dst, '{')
	var err error
	for i, k := range names {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, k)
		dst = append(dst, ':')
		if dst, err = e.appendValue(dst, m[k]); err != nil {
			return nil, at(err, "."+k)
		}
	}
	return append(dst, '}'), nil
}

func (e encoder) appendValue(dst []byte, v types.AttributeValue) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		dst = append(dst, `{"S":`...)
		dst = AppendString(dst, v.Value)
	case *types.AttributeValueMemberN:
		dst = append(dst, `{"N":`...)
		if e.canonical {
			dst = append(dst, '"')
			dst = AppendNormalNumber(dst, v.Value)
			dst = append(dst, '"')
		} else {
			dst = AppendString(dst, v.Value)
		}
	case *types.AttributeValueMemberB:
		dst = append(dst, `{"B":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, v.Value)
		dst = append(dst, '"')
	case *types.AttributeValueMemberBOOL:
		if v.Value {
			dst = append(dst, `{"BOOL":true`...)
		} else {
			dst = append(dst, `{"BOOL":false`...)
		}
	case *types.AttributeValueMemberNULL:
		dst = append(dst, `{"NULL":true`...)
	case *types.AttributeValueMemberSS:
		dst = append(dst, `{"SS":[`...)
		s := v.Value
		if e.canonical && !slices.IsSorted(s) {
			var small [8]string
			s = append(small[:0], s...)
			slices.Sort(s)
		}
		for i, x := range s {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, x)
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberNS:
		dst = append(dst, `{"NS":[`...)
		if e.canonical {
			dst = appendNormalNumberSet(dst, v.Value)
		} else {
			for i, s := range v.Value {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = AppendString(dst, s)
			}
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberBS:
		dst = append(dst, `{"BS":[`...)
		s := v.Value
		if e.canonical && !slices.IsSortedFunc(s, bytes.Compare) {
			s = slices.SortedFunc(slices.Values(s), bytes.Compare)
		}
		for i, b := range s {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, b)
			dst = append(dst, '"')
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberL:
		dst = append(dst, `{"L":[`...)
		for i, x := range v.Value {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = e.appendValue(dst, x); err != nil {
				return nil, at(err, "["+strconv.Itoa(i)+"]")
			}
		}
		dst = append(dst, ']')
	case *types.AttributeValueMemberM:
		dst = append(dst, `{"M":`...)
		if dst, err = e.appendMap(dst, v.Value); err != nil {
			return nil, err
		}
	default:
		return nil, &encodeError{v: v}
	}
	return append(dst, '}'), nil
}

// appendNormalNumberSet appends a number set's elements normalized, in
// the order of their normal forms, as JSON strings.
func appendNormalNumberSet(dst []byte, set []string) []byte {
	norm := make([]string, len(set))
	for i, s := range set {
		norm[i] = string(AppendNormalNumber(nil, s))
	}
	slices.Sort(norm)
	for i, s := range norm {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, s...)
		dst = append(dst, '"')
	}
	return dst
}

// AppendNormalNumber appends a decimal number as <sign><digits>e<exponent>
// with no leading or trailing zeros in the digits, so "1.50", "15E-1" and
// "+1.5" all become "15e-1". Zero is "0". The input is trusted to be a
// valid DynamoDB number (ValidateNumber); one whose exponent does not
// parse is appended as written (compared as written).
func AppendNormalNumber(dst []byte, s string) []byte {
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
			return append(dst, s...)
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	exp -= len(frac)
	// The digits are intPart then frac, without their leading zeros.
	lead := 0
	for lead < len(intPart) && intPart[lead] == '0' {
		lead++
	}
	if lead == len(intPart) {
		intPart = ""
		frac = strings.TrimLeft(frac, "0")
	} else {
		intPart = intPart[lead:]
	}
	// ... and without their trailing zeros, which go to the exponent.
	if t := strings.TrimRight(frac, "0"); len(t) < len(frac) && (t != "" || intPart != "") {
		exp += len(frac) - len(t)
		frac = t
	}
	if frac == "" {
		t := strings.TrimRight(intPart, "0")
		exp += len(intPart) - len(t)
		intPart = t
	}
	if intPart == "" && frac == "" {
		return append(dst, '0')
	}
	if neg {
		dst = append(dst, '-')
	}
	dst = append(dst, intPart...)
	dst = append(dst, frac...)
	dst = append(dst, 'e')
	return strconv.AppendInt(dst, int64(exp), 10)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Unlike encoding/json it leaves
// <, > and & alone, so text stays readable and byte-stable.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but not valid JavaScript source; escape as encoding/json does.
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
