package journal

import (
	"bytes"
	"strconv"
	"unsafe"
)

// parseLine reads a line as AppendLine writes it without encoding/json (the
// journal's hot path), and falls back to ParseLine for any other spelling.
func parseLine(line []byte) (Record, error) {
	if r, ok := parseFast(line); ok {
		return r, nil
	}
	return ParseLine(line)
}

// parseFast reads the fields as AppendLine spells them. Its strings point
// into b, which the caller never writes again (readLines' arena): a
// record costs no allocation.
func parseFast(b []byte) (r Record, ok bool) {
	p := &fastParser{b: b}
	if !p.lit(`{"id":`) {
		return r, false
	}
	if r.ID, ok = p.str(); !ok {
		return r, false
	}
	if !p.lit(`,"timeMs":`) {
		return r, false
	}
	if r.TimeMs, ok = p.int(); !ok {
		return r, false
	}
	if !p.lit(`,"storedMs":`) {
		return r, false
	}
	storedAt := p.i
	if r.StoredMs, ok = p.int(); !ok {
		return r, false
	}
	r.storedOff = [2]int32{int32(storedAt), int32(p.i)}
	r.rawStored = r.StoredMs
	if p.lit(`,"seq":`) {
		if r.Seq, ok = p.str(); !ok {
			return r, false
		}
	}
	if p.lit(`,"stream":`) {
		if r.Stream, ok = p.str(); !ok {
			return r, false
		}
	}
	if !p.lit(`,"event":`) {
		return r, false
	}
	if r.Event, ok = p.event(); !ok {
		return r, false
	}
	if p.lit(`,"ttl":true`) {
		r.TTL = true
	}
	if !p.lit(`,"Keys":`) {
		return r, false
	}
	start := p.i
	if !p.object() {
		return r, false
	}
	r.Keys = b[start:p.i]
	if p.lit(`,"NewImage":`) {
		start = p.i
		if !p.object() {
			return r, false
		}
		r.NewImage = b[start:p.i]
	}
	end := len(bytes.TrimRight(b, "\r\n"))
	if !p.lit("}") || p.i != end {
		return r, false
	}
	r.raw = b[:end]
	return r, r.check() == nil
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// event reads an event name as one of the constants (no allocation).
func (p *fastParser) event() (string, bool) {
	for i, q := range quotedEvents {
		if p.lit(q) {
			return events[i], true
		}
	}
	return p.str()
}

var (
	events       = [...]string{EventModify, EventInsert, EventRemove, EventBackfill}
	quotedEvents = [...]string{`"` + EventModify + `"`, `"` + EventInsert + `"`, `"` + EventRemove + `"`, `"` + EventBackfill + `"`}
)

// str reads a string without escapes (ids, sequence numbers, ARNs and
// event names have none); one with escapes goes the slow way.
func (p *fastParser) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	j := bytes.IndexByte(p.b[p.i+1:], '"')
	if j < 0 {
		return "", false
	}
	s := p.b[p.i+1 : p.i+1+j]
	if bytes.IndexByte(s, '\\') >= 0 {
		return "", false
	}
	p.i += j + 2
	if len(s) == 0 {
		return "", true
	}
	// The bytes are never written again (see parseFast).
	return unsafe.String(&s[0], len(s)), true
}

func (p *fastParser) int() (int64, bool) {
	j := p.i
	neg := j < len(p.b) && p.b[j] == '-'
	if neg {
		j++
	}
	var n int64
	d := j
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		n = n*10 + int64(p.b[j]-'0')
		j++
	}
	if j == d || j-d > 18 {
		// None, or too many digits to add up without overflow.
		v, err := strconv.ParseInt(string(p.b[p.i:j]), 10, 64)
		if err != nil {
			return 0, false
		}
		p.i = j
		return v, true
	}
	if neg {
		n = -n
	}
	p.i = j
	return n, true
}

// object skips one JSON object, strings and nesting included; a string's
// body is skipped to its closing quote at once.
func (p *fastParser) object() bool {
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return false
	}
	depth := 0
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '"':
			for {
				j := bytes.IndexByte(p.b[p.i+1:], '"')
				if j < 0 {
					return false
				}
				p.i += j + 1
				// Escaped when an odd number of backslashes precede it.
				k := p.i - 1
				for k >= 0 && p.b[k] == '\\' {
					k--
				}
				if (p.i-1-k)%2 == 0 {
					break
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				p.i++
				return true
			}
		}
		p.i++
	}
	return false
}
