package s3source

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
)

// parseVersionsFast reads a ListVersionsResult without encoding/xml, which
// spends more CPU per listed version than the rest of the scan. It handles
// the plain shape every S3 server writes (elements, text, entities) and
// reports ok=false on anything else (CDATA, comments, prefixed names), so
// the caller falls back to the full parser.
func parseVersionsFast(body []byte) (p *history.Page, ok bool, err error) {
	if bytes.Contains(body, []byte("<!")) || bytes.Contains(body, []byte("<?xml-")) {
		return nil, false, nil
	}
	root := bytes.Index(body, []byte("<ListVersionsResult"))
	if root < 0 {
		return nil, false, nil
	}
	p = &history.Page{}
	rest := body[root:]
	for {
		i := bytes.IndexByte(rest, '<')
		if i < 0 {
			return p, true, nil
		}
		rest = rest[i+1:]
		if len(rest) == 0 || rest[0] == '/' || rest[0] == '?' {
			continue
		}
		end := bytes.IndexAny(rest, " >/")
		if end < 0 {
			return nil, false, nil
		}
		name := string(rest[:end])
		if strings.ContainsRune(name, ':') {
			return nil, false, nil
		}
		switch name {
		case "Version", "DeleteMarker":
			closing := []byte("</" + name + ">")
			j := bytes.Index(rest, closing)
			if j < 0 {
				return nil, false, nil
			}
			e, err := fastEntry(rest[:j], name == "DeleteMarker")
			if err != nil {
				return nil, true, err
			}
			p.Entries = append(p.Entries, e)
			rest = rest[j+len(closing):]
		case "IsTruncated", "NextKeyMarker", "NextVersionIdMarker", "EncodingType":
			v, n, ok := text(rest, name)
			if !ok {
				return nil, false, nil
			}
			if err := setPageField(p, name, v); err != nil {
				return nil, true, err
			}
			rest = rest[n:]
		}
	}
}

// text returns the unescaped text of the element name starting at el (just
// after its '<') and how many bytes the element spans.
func text(el []byte, name string) (string, int, bool) {
	open := bytes.IndexByte(el, '>')
	if open < 0 {
		return "", 0, false
	}
	if el[open-1] == '/' { // <Name/>
		return "", open + 1, true
	}
	closing := "</" + name + ">"
	j := bytes.Index(el[open+1:], []byte(closing))
	if j < 0 {
		return "", 0, false
	}
	raw := el[open+1 : open+1+j]
	if bytes.IndexByte(raw, '<') >= 0 {
		return "", 0, false
	}
	s, ok := unescape(raw)
	return s, open + 1 + j + len(closing), ok
}

func field(entry []byte, name string) (string, bool) {
	i := bytes.Index(entry, []byte("<"+name+">"))
	if i < 0 {
		if bytes.Contains(entry, []byte("<"+name+"/>")) {
			return "", true
		}
		return "", false
	}
	v, _, ok := text(entry[i+1:], name)
	return v, ok
}

func fastEntry(el []byte, isDelete bool) (history.Entry, error) {
	e := history.Entry{IsDelete: isDelete}
	var ok bool
	if e.Key, ok = field(el, "Key"); !ok {
		return e, fmt.Errorf("parse list response: an entry has no Key")
	}
	e.VersionID, _ = field(el, "VersionId")
	latest, _ := field(el, "IsLatest")
	e.IsLatest = latest == "true"
	lm, _ := field(el, "LastModified")
	t, err := time.Parse(time.RFC3339Nano, lm)
	if err != nil {
		return e, fmt.Errorf("parse list response: key %q version %q: bad LastModified %q", e.Key, e.VersionID, lm)
	}
	e.LastModified = t
	if size, ok := field(el, "Size"); ok && size != "" {
		e.Size, _ = strconv.ParseInt(size, 10, 64)
	}
	if etag, ok := field(el, "ETag"); ok {
		e.ETag = strings.Trim(etag, `"`)
	}
	return e, nil
}

var entities = map[string]string{"amp": "&", "lt": "<", "gt": ">", "quot": `"`, "apos": "'"}

func unescape(raw []byte) (string, bool) {
	if bytes.IndexByte(raw, '&') < 0 {
		return string(raw), true
	}
	var b strings.Builder
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '&')
		if i < 0 {
			b.Write(raw)
			break
		}
		b.Write(raw[:i])
		raw = raw[i+1:]
		semi := bytes.IndexByte(raw, ';')
		if semi < 0 {
			return "", false
		}
		ent := string(raw[:semi])
		raw = raw[semi+1:]
		if s, ok := entities[ent]; ok {
			b.WriteString(s)
			continue
		}
		if strings.HasPrefix(ent, "#") {
			var n uint64
			var err error
			if strings.HasPrefix(ent, "#x") || strings.HasPrefix(ent, "#X") {
				n, err = strconv.ParseUint(ent[2:], 16, 32)
			} else {
				n, err = strconv.ParseUint(ent[1:], 10, 32)
			}
			if err != nil {
				return "", false
			}
			b.WriteRune(rune(n))
			continue
		}
		return "", false
	}
	return b.String(), true
}
