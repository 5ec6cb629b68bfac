package item

import (
	"encoding/base64"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// fastUnmarshal decodes well-formed DynamoDB JSON in one pass. The snapshot
// decodes every fetched item, and encoding/json's RawMessage maps re-scan
// each nesting level, cost ~70 µs and 300 allocations per small item: more
// CPU than the GET that fetched it. It handles the common, unambiguous
// input only and reports ok=false for anything else (any error, duplicate
// names, invalid UTF-8, surrogate escapes, deep nesting, trailing data), so
// the careful decoder decides those cases and words their errors; a fuzz
// test checks that both agree wherever this one answers.
func fastUnmarshal(data []byte) (Item, bool) {
	d := fastDecoder{data: data}
	d.space()
	m, ok := d.attrMap(0)
	if !ok {
		return nil, false
	}
	d.space()
	return m, d.i == len(d.data)
}

// maxFastDepth bounds recursion; DynamoDB allows 32 levels.
const maxFastDepth = 64

type fastDecoder struct {
	data []byte
	i    int
}

func (d *fastDecoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *fastDecoder) byte(c byte) bool {
	d.space()
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *fastDecoder) literal(s string) bool {
	d.space()
	if len(d.data)-d.i >= len(s) && string(d.data[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// attrMap reads {"name": value, ...}.
func (d *fastDecoder) attrMap(depth int) (Item, bool) {
	if depth > maxFastDepth || !d.byte('{') {
		return nil, false
	}
	m := make(Item, 8)
	if d.byte('}') {
		return m, true
	}
	for {
		name, ok := d.str()
		if !ok || !d.byte(':') {
			return nil, false
		}
		if _, dup := m[name]; dup {
			return nil, false
		}
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		m[name] = v
		if d.byte(',') {
			continue
		}
		return m, d.byte('}')
	}
}

// value reads {"T": ...}, exactly one type key.
func (d *fastDecoder) value(depth int) (types.AttributeValue, bool) {
	if depth > maxFastDepth || !d.byte('{') {
		return nil, false
	}
	typ, ok := d.str()
	if !ok || !d.byte(':') {
		return nil, false
	}
	var v types.AttributeValue
	switch typ {
	case "S":
		s, ok := d.str()
		if !ok {
			return nil, false
		}
		v = &types.AttributeValueMemberS{Value: s}
	case "N":
		n, ok := d.number()
		if !ok {
			return nil, false
		}
		v = &types.AttributeValueMemberN{Value: n}
	case "B":
		b, ok := d.binary()
		if !ok {
			return nil, false
		}
		v = &types.AttributeValueMemberB{Value: b}
	case "BOOL":
		switch {
		case d.literal("true"):
			v = &types.AttributeValueMemberBOOL{Value: true}
		case d.literal("false"):
			v = &types.AttributeValueMemberBOOL{Value: false}
		default:
			return nil, false
		}
	case "NULL":
		if !d.literal("true") {
			return nil, false
		}
		v = &types.AttributeValueMemberNULL{Value: true}
	case "SS", "NS", "BS":
		if v, ok = d.set(typ); !ok {
			return nil, false
		}
	case "L":
		if !d.byte('[') {
			return nil, false
		}
		l := []types.AttributeValue{}
		if !d.byte(']') {
			for {
				e, ok := d.value(depth + 1)
				if !ok {
					return nil, false
				}
				l = append(l, e)
				if d.byte(',') {
					continue
				}
				if !d.byte(']') {
					return nil, false
				}
				break
			}
		}
		v = &types.AttributeValueMemberL{Value: l}
	case "M":
		m, ok := d.attrMap(depth + 1)
		if !ok {
			return nil, false
		}
		v = &types.AttributeValueMemberM{Value: m}
	default:
		return nil, false
	}
	return v, d.byte('}')
}

func (d *fastDecoder) set(typ string) (types.AttributeValue, bool) {
	if !d.byte('[') {
		return nil, false
	}
	var ss []string
	var bs [][]byte
	if d.byte(']') {
		ss, bs = []string{}, [][]byte{}
	} else {
		for {
			switch typ {
			case "SS":
				s, ok := d.str()
				if !ok {
					return nil, false
				}
				ss = append(ss, s)
			case "NS":
				n, ok := d.number()
				if !ok {
					return nil, false
				}
				ss = append(ss, n)
			default:
				b, ok := d.binary()
				if !ok {
					return nil, false
				}
				bs = append(bs, b)
			}
			if d.byte(',') {
				continue
			}
			if !d.byte(']') {
				return nil, false
			}
			break
		}
	}
	switch typ {
	case "SS":
		return &types.AttributeValueMemberSS{Value: ss}, true
	case "NS":
		return &types.AttributeValueMemberNS{Value: ss}, true
	}
	return &types.AttributeValueMemberBS{Value: bs}, true
}

func (d *fastDecoder) number() (string, bool) {
	s, ok := d.str()
	if !ok || ValidateNumber(s) != nil {
		return "", false
	}
	return s, true
}

func (d *fastDecoder) binary() ([]byte, bool) {
	s, ok := d.str()
	if !ok {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return b, err == nil
}

// str reads a JSON string. Plain ASCII without escapes, the usual case, is
// one slice; escapes other than surrogates are decoded; invalid UTF-8 and
// surrogate escapes, which encoding/json replaces with U+FFFD, are left to
// the careful decoder.
func (d *fastDecoder) str() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start := d.i
	ascii := true
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			s := d.data[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.i++
	}
	return "", false
}

// escaped finishes a string that holds escapes, from its start.
func (d *fastDecoder) escaped(start int) (string, bool) {
	out := make([]byte, 0, d.i-start+16)
	out = append(out, d.data[start:d.i]...)
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.data) {
			return "", false
		}
		e := d.data[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if d.i+4 > len(d.data) {
				return "", false
			}
			r, err := strconv.ParseUint(string(d.data[d.i:d.i+4]), 16, 32)
			if err != nil || utf16.IsSurrogate(rune(r)) {
				return "", false
			}
			d.i += 4
			out = utf8.AppendRune(out, rune(r))
		default:
			return "", false
		}
	}
	return "", false
}

// DecodeMapAt decodes the attribute map (DynamoDB JSON) that starts at
// data[i], after any space, and returns the index just after it: a page
// of items (a Scan's answer) decoded in place. ok is false for input the
// fast decoder does not take (see fastUnmarshal); the caller then decodes
// the whole page another way.
func DecodeMapAt(data []byte, i int) (it Item, end int, ok bool) {
	d := fastDecoder{data: data, i: i}
	it, ok = d.attrMap(0)
	return it, d.i, ok
}
