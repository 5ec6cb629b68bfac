package journal

import (
	"bytes"
	"strconv"
)

// parseLine reads a line as AppendLine writes it without encoding/json (the
// journal's hot path), and falls back to ParseLine for any other spelling.
func parseLine(line []byte) (Record, error) {
	if r, ok := parseFast(line); ok {
		return r, nil
	}
	return ParseLine(line)
}

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
	if r.StoredMs, ok = p.int(); !ok {
		return r, false
	}
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
	if r.Event, ok = p.str(); !ok {
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
	if !p.lit("}") || p.i != len(bytes.TrimRight(b, "\r\n")) {
		return r, false
	}
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
	return string(s), true
}

func (p *fastParser) int() (int64, bool) {
	j := p.i
	if j < len(p.b) && p.b[j] == '-' {
		j++
	}
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(p.b[p.i:j]), 10, 64)
	if err != nil {
		return 0, false
	}
	p.i = j
	return n, true
}

// object skips one JSON object, strings and nesting included.
func (p *fastParser) object() bool {
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return false
	}
	depth := 0
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case '"':
			p.i++
			for p.i < len(p.b) && p.b[p.i] != '"' {
				if p.b[p.i] == '\\' {
					p.i++
				}
				p.i++
			}
			if p.i >= len(p.b) {
				return false
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
