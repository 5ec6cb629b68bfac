package snapshot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dynasnap/dynasnap/internal/history"
)

// FuzzLineReader feeds arbitrary bytes to the snapshot's data-file line
// reader: it must never panic or loop, every item it returns must be a JSON
// object, and what the writer writes it must read back unchanged.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("{\"Item\":{\"pk\":{\"S\":\"a\"}}}\n{\"Item\":{\"pk\":{\"N\":\"1\"}}}\n"))
	f.Add([]byte("\n\n  {\"Item\":{}}  \r\n"))
	f.Add([]byte("{\"Item\":[1]}\n"))
	f.Add([]byte("{\"Item\":{\"pk\":{\"S\":\"a\"}}"))
	f.Add([]byte("not json\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, closer, err := newItemReader("DYNAMODB_JSON", "none", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer closer.Close()
		var items []json.RawMessage
		for n := 0; ; n++ {
			if n > len(data)+1 {
				t.Fatal("more items than bytes: the reader loops")
			}
			it, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return // a clear error on a bad line is the right answer
			}
			if !json.Valid(it) || it[0] != '{' {
				t.Fatalf("item %q is not a JSON object", it)
			}
			items = append(items, it)
		}
		// Round trip: compact what was read, write it, read it back.
		var buf bytes.Buffer
		w, err := newItemWriter(FormatJSONLines, "none", nopCloser{&buf})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, it := range items {
			var c bytes.Buffer
			if err := json.Compact(&c, it); err != nil {
				t.Fatal(err)
			}
			want = append(want, c.String())
			if err := w.Write(history.Entry{}, c.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		r2 := &jsonLinesReader{br: bufio.NewReader(&buf)}
		for i := range want {
			it, err := r2.Next()
			if err != nil || string(it) != want[i] {
				t.Fatalf("item %d: wrote %s, read %s (%v)", i, want[i], it, err)
			}
		}
		if _, err := r2.Next(); err != io.EOF {
			t.Fatalf("extra item after the written ones: %v", err)
		}
	})
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// The sidecar's own reader reads what its writer writes exactly as
// encoding/json would, and leaves any other line to encoding/json.
func FuzzSidecarLine(f *testing.F) {
	f.Add("bk/t/0a1b", "v1", int64(1764590000), 0)
	f.Add("bk/t/é\"\\\n\x7f\u2028", "null", int64(0), 999)
	f.Add("", "", int64(-62135596800), 1)
	f.Fuzz(func(t *testing.T, key, vid string, sec int64, nsec int) {
		at := time.Unix(sec%(1<<36), int64(nsec)%1e9).UTC()
		if at.Year() < 0 || at.Year() > 9999 {
			return
		}
		l := SidecarLine{Key: key, VersionID: vid, LastModified: at}
		line := appendSidecarLine(nil, l)
		var fast, slow SidecarLine
		if err := parseSidecarLine(bytes.TrimSpace(line), &fast); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if err := json.Unmarshal(line, &slow); err != nil {
			t.Fatalf("%q is not JSON: %v", line, err)
		}
		if fast != slow || !fast.LastModified.Equal(at) {
			t.Fatalf("%q: read %+v, encoding/json %+v", line, fast, slow)
		}
		if utf8.ValidString(key) && utf8.ValidString(vid) && (fast.Key != key || fast.VersionID != vid) {
			t.Fatalf("%q: read %+v, wrote %+v", line, fast, l)
		}
	})
}
