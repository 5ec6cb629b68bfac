package item

import (
	"bytes"
	"testing"
)

// Every item of the corpus, as Marshal writes it, is taken as it is and
// sized as Size sizes it; the same item written otherwise is not taken.
func TestCanonicalSize(t *testing.T) {
	for name, data := range corpus(t, "items") {
		it, err := Unmarshal(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		enc, err := Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		n, ok := CanonicalSize(enc)
		if !ok {
			t.Errorf("%s: its own encoding is not taken as canonical:\n%s", name, enc)
			continue
		}
		if n != Size(it) {
			t.Errorf("%s: size %d, Size says %d", name, n, Size(it))
		}
		if !bytes.Equal(enc, data) {
			if _, ok := CanonicalSize(data); ok {
				t.Errorf("%s: taken as canonical, but Marshal writes it otherwise", name)
			}
		}
	}
	for _, s := range []string{
		`{"a":{"S":"x"}} `, `{ "a":{"S":"x"}}`, `{"b":{"S":"x"},"a":{"S":"y"}}`, `{"a":{"S":"x"},"a":{"S":"x"}}`,
		`{"a":{"S":"\/"}}`, `{"a":{"S":"\u0041"}}`, `{"a":{"S":"\u000a"}}`, `{"a":{"S":"\u001F"}}`, `{"a":{"S":"\ufffd"}}`,
		"{\"a\":{\"S\":\"\u2028\"}}", "{\"a\":{\"S\":\"\x7f\"}}", "{\"a\":{\"S\":\"\xff\"}}", `{"a":{"B":"QR=="}}`, `{"a":{"B":"QQ"}}`,
		`{"a":{"N":"1x"}}`, `{"a":{"N":""}}`, `{"a\n":{"S":"x"}}`, `{"a":{"BOOL":1}}`, `{"a":{"S":"x","S":"y"}}`, `{"a":{"L":[{"S":"x"},]}}`,
	} {
		if _, ok := CanonicalSize([]byte(s)); ok {
			t.Errorf("%q taken as canonical", s)
		}
	}
	for _, s := range []string{
		`{}`, `{"a":{"S":""}}`, `{"a":{"S":"\u0000\u007f\n\"\\é\u2029"}}`, `{"a":{"B":""},"b":{"B":"QQ=="}}`,
		`{"a":{"L":[]},"b":{"M":{}},"c":{"SS":[]},"d":{"NS":["1","-2.5e3"]},"e":{"BS":["AAE="]}}`,
		`{"a":{"M":{"b":{"L":[{"NULL":true},{"BOOL":false},{"M":{"c":{"N":"0"}}}]}}}}`,
	} {
		it, err := Unmarshal([]byte(s))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		n, ok := CanonicalSize([]byte(s))
		if !ok || n != Size(it) {
			t.Errorf("%s: canonical %v, size %d, Size %d", s, ok, n, Size(it))
		}
	}
}

// Wherever CanonicalSize answers, the bytes are what Marshal writes for
// the item they decode to, and the size is Size's.
func FuzzCanonicalSize(f *testing.F) {
	for _, data := range corpus(f, "items") {
		f.Add(data)
		if it, err := Unmarshal(data); err == nil {
			if enc, err := Marshal(it); err == nil {
				f.Add(enc)
			}
		}
	}
	for _, data := range corpus(f, "bad") {
		f.Add(data)
	}
	for _, s := range []string{`{"a":{"S":"\u0000\u007f\n\"\\é\u2029"}}`, `{"a":{"B":"QR=="}}`, `{"a":{"NS":["1","-2.5e3"]},"b":{"BS":["AAE="]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, ok := CanonicalSize(data)
		if !ok {
			return
		}
		it, err := Unmarshal(data)
		if err != nil {
			t.Fatalf("taken as canonical, but does not decode (%v):\n%q", err, data)
		}
		enc, err := Marshal(it)
		if err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("taken as canonical, but Marshal writes otherwise:\n%q\n%q", data, enc)
		}
		if n != Size(it) {
			t.Fatalf("%q: size %d, Size says %d", data, n, Size(it))
		}
	})
}
