package item

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// CanonicalSize reports whether data is an item exactly as Marshal writes
// it (compact, attribute names sorted, strings escaped as AppendString
// does) and, if so, its Size, without building the item. The snapshot
// copies such a body as its data line and has no use for the decoded item:
// decoding and re-encoding every fetched item cost more CPU than the rest
// of its path, on a machine the server shares. Anything else (whitespace,
// unsorted or escaped names, other escapes, a non-canonical base64) is
// ok=false, and the caller decodes and re-encodes as before; a fuzz test
// checks that wherever this answers, Marshal(Unmarshal(data)) is data and
// Size agrees.
func CanonicalSize(data []byte) (int64, bool) {
	c := canon{b: data}
	sum, _, ok := c.attrMap(0)
	if !ok || c.i != len(data) {
		return 0, false
	}
	return max(sum, 1), true
}

type canon struct {
	b []byte
	i int
	// strict also checks what Validate checks, and answers ok=false for
	// what it cannot check cheaply (a number set of more than one value,
	// a set of more than maxFastSet).
	strict bool
	// top, when set, gets each top-level attribute's name and value.
	top func(name, value []byte)
}

// maxFastSet is the largest string or binary set strict checks (pairwise).
const maxFastSet = 16

// ValidCanonical is CanonicalSize for a body that must also pass Validate,
// and the canonical key (CanonicalKey) of the attributes named by keys,
// sorted: ok=false means the caller must decode the item (it may still be
// valid), key=nil that a key attribute is missing, empty or not S, N or B.
// A walk that validates every item it reads checks a canonical body so
// without building it.
func ValidCanonical(data []byte, keys []string) (size int64, key []byte, ok bool) {
	var found [4][]byte
	var names [4][]byte
	if len(keys) > len(found) {
		return 0, nil, false
	}
	c := canon{b: data, strict: true, top: func(name, value []byte) {
		for i, k := range keys {
			if k == string(name) {
				names[i], found[i] = name, value
			}
		}
	}}
	sum, _, ok := c.attrMap(0)
	if !ok || c.i != len(data) {
		return 0, nil, false
	}
	size = max(sum, 1)
	if len(keys) == 0 {
		return size, nil, true
	}
	// The key's attributes in name order, as Marshal sorts them.
	order := make([]int, 0, len(keys))
	for i := range keys {
		v := found[i]
		if v == nil || !(bytes.HasPrefix(v, []byte(`{"S":`)) || bytes.HasPrefix(v, []byte(`{"N":`)) || bytes.HasPrefix(v, []byte(`{"B":`))) ||
			string(v[5:]) == `""}` {
			return size, nil, true
		}
		j := len(order)
		for j > 0 && string(names[order[j-1]]) > string(names[i]) {
			j--
		}
		order = slices.Insert(order, j, i)
	}
	key = append(make([]byte, 0, 64), '{')
	for n, i := range order {
		if n > 0 {
			key = append(key, ',')
		}
		key = append(key, '"')
		key = append(key, names[i]...)
		key = append(key, `":`...)
		key = append(key, found[i]...)
	}
	return size, append(key, '}'), true
}

func (c *canon) lit(s string) bool {
	if len(c.b)-c.i >= len(s) && string(c.b[c.i:c.i+len(s)]) == s {
		c.i += len(s)
		return true
	}
	return false
}

// attrMap reads {"name":value,...}: the sum of its names' and values'
// sizes, and how many it holds. Names must be plain (no escapes), so that
// their bytes sort as the decoded names do.
func (c *canon) attrMap(depth int) (sum, count int64, ok bool) {
	if depth > maxFastDepth || !c.lit("{") {
		return 0, 0, false
	}
	if c.lit("}") {
		return 0, 0, true
	}
	var prev []byte
	for {
		name, n, esc, ok := c.str()
		if !ok || esc || (count > 0 && bytes.Compare(prev, name) >= 0) || !c.lit(":") {
			return 0, 0, false
		}
		prev = name
		start := c.i
		vs, ok := c.value(depth + 1)
		if !ok {
			return 0, 0, false
		}
		if depth == 0 && c.top != nil {
			c.top(name, c.b[start:c.i])
		}
		sum += n + vs
		count++
		if c.lit(",") {
			continue
		}
		return sum, count, c.lit("}")
	}
}

// value reads one {"T":...} and returns its size as valueSize counts it.
func (c *canon) value(depth int) (int64, bool) {
	if depth > maxFastDepth {
		return 0, false
	}
	var n int64
	switch {
	case c.lit(`{"S":`):
		_, size, _, ok := c.str()
		if !ok {
			return 0, false
		}
		n = size
	case c.lit(`{"N":`):
		size, ok := c.number()
		if !ok {
			return 0, false
		}
		n = size
	case c.lit(`{"B":`):
		size, ok := c.binary()
		if !ok {
			return 0, false
		}
		n = size
	case c.lit(`{"BOOL":true}`), c.lit(`{"BOOL":false}`), c.lit(`{"NULL":true}`):
		return 1, true
	case c.lit(`{"SS":[`):
		return c.set(func() (int64, bool) { _, size, _, ok := c.str(); return size, ok }, false)
	case c.lit(`{"NS":[`):
		return c.set(c.number, true)
	case c.lit(`{"BS":[`):
		return c.set(c.binary, false)
	case c.lit(`{"L":[`):
		size, ok := c.list(func() (int64, bool) {
			vs, ok := c.value(depth + 1)
			return 1 + vs, ok
		}, 3)
		return size, ok
	case c.lit(`{"M":`):
		sum, count, ok := c.attrMap(depth + 1)
		if !ok {
			return 0, false
		}
		n = 3 + count + sum
	default:
		return 0, false
	}
	return n, c.lit("}")
}

// set reads a set's elements; strict, it must be non-empty and hold no
// value twice (numbers: one value at most, as 1 and 1.0 are one).
func (c *canon) set(elem func() (int64, bool), numbers bool) (int64, bool) {
	if !c.strict {
		return c.list(elem, 0)
	}
	var seen [maxFastSet][]byte
	n := 0
	size, ok := c.list(func() (int64, bool) {
		start := c.i
		size, ok := elem()
		if !ok || n == maxFastSet || (numbers && n > 0) {
			return 0, false
		}
		v := c.b[start:c.i]
		for _, s := range seen[:n] {
			if bytes.Equal(s, v) {
				return 0, false
			}
		}
		seen[n] = v
		n++
		return size, true
	}, 0)
	return size, ok && n > 0
}

// list reads the rest of [e,e,...]} and adds up its elements' sizes.
func (c *canon) list(elem func() (int64, bool), n int64) (int64, bool) {
	if c.lit("]}") {
		return n, true
	}
	for {
		size, ok := elem()
		if !ok {
			return 0, false
		}
		n += size
		if c.lit(",") {
			continue
		}
		return n, c.lit("]}")
	}
}

func (c *canon) number() (int64, bool) {
	raw, _, esc, ok := c.str()
	if !ok || esc || len(raw) == 0 {
		return 0, false
	}
	// Neither function keeps s.
	s := unsafe.String(&raw[0], len(raw))
	if ValidateNumber(s) != nil || (c.strict && checkRange("", s) != nil) {
		return 0, false
	}
	return numberSize(s), true
}

// binary reads a base64 string exactly as Marshal writes its bytes.
func (c *canon) binary() (int64, bool) {
	raw, _, esc, ok := c.str()
	if !ok || esc {
		return 0, false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(string(raw))
	if err != nil || base64.StdEncoding.EncodedLen(len(b)) != len(raw) {
		return 0, false
	}
	return int64(len(b)), true
}

// str reads a string as AppendString writes it: raw is what is between
// the quotes, n its decoded length in bytes, esc whether it has escapes.
func (c *canon) str() (raw []byte, n int64, esc, ok bool) {
	if !c.lit(`"`) {
		return nil, 0, false, false
	}
	start := c.i
	for c.i < len(c.b) {
		ch := c.b[c.i]
		switch {
		case ch == '"':
			raw = c.b[start:c.i]
			c.i++
			return raw, n, esc, true
		case ch == '\\':
			esc = true
			size, ok := c.escape()
			if !ok {
				return nil, 0, false, false
			}
			n += size
		case ch < 0x20 || ch == 0x7f:
			return nil, 0, false, false
		case ch < utf8.RuneSelf:
			c.i++
			n++
		default:
			r, size := utf8.DecodeRune(c.b[c.i:])
			if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
				return nil, 0, false, false
			}
			c.i += size
			n += int64(size)
		}
	}
	return nil, 0, false, false
}

// escape reads one escape AppendString writes, and returns its decoded length.
func (c *canon) escape() (int64, bool) {
	if c.i+1 >= len(c.b) {
		return 0, false
	}
	switch c.b[c.i+1] {
	case '"', '\\', 'n', 'r', 't':
		c.i += 2
		return 1, true
	case 'u':
	default:
		return 0, false
	}
	if c.i+6 > len(c.b) {
		return 0, false
	}
	h := string(c.b[c.i+2 : c.i+6])
	c.i += 6
	switch h {
	case "2028", "2029":
		return 3, true
	}
	hi, lo := strings.IndexByte(hexDigits, h[2]), strings.IndexByte(hexDigits, h[3])
	if h[:2] != "00" || hi < 0 || lo < 0 {
		return 0, false
	}
	switch v := byte(hi<<4 | lo); {
	case v == '\n' || v == '\r' || v == '\t':
		return 0, false // written as \n, \r, \t
	case v < 0x20 || v == 0x7f:
		return 1, true
	}
	return 0, false
}
