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

// Wherever ValidCanonical answers, the item decodes, passes Validate, has
// the size CanonicalSize gives, and its key is CanonicalKey's.
func FuzzValidCanonical(f *testing.F) {
	for _, data := range corpus(f, "items") {
		f.Add(data)
	}
	for _, s := range []string{`{"pk":{"S":"a"},"s":{"SS":["x","y"]}}`, `{"pk":{"N":"1"},"n":{"NS":["1"]}}`, `{"pk":{"S":"a"},"n":{"N":"1E+200"}}`,
		`{"pk":{"S":"a"},"s":{"SS":[]}}`, `{"pk":{"S":"a"},"s":{"SS":["x","x"]}}`, `{"pk":{"S":""}}`, `{"pk":{"B":"AAE="},"sk":{"N":"2"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, keys := range [][]string{nil, {"pk"}, {"sk", "pk"}} {
			n, key, ok := ValidCanonical(data, keys)
			if !ok {
				continue
			}
			it, err := Unmarshal(data)
			if err != nil {
				t.Fatalf("taken as valid, but does not decode (%v):\n%q", err, data)
			}
			if err := Validate(it); err != nil {
				t.Fatalf("taken as valid, but Validate says %v:\n%q", err, data)
			}
			if m, _ := CanonicalSize(data); m != n {
				t.Fatalf("%q: size %d, CanonicalSize says %d", data, n, m)
			}
			if len(keys) == 0 || key == nil {
				continue
			}
			want, err := CanonicalKey(it, keys...)
			if err != nil || !bytes.Equal(want, key) {
				t.Fatalf("%q keys %v: key %q, CanonicalKey %q (%v)", data, keys, key, want, err)
			}
		}
	})
}

func TestValidCanonicalRefuses(t *testing.T) {
	for _, s := range []string{`{"pk":{"S":"a"},"s":{"SS":[]}}`, `{"pk":{"S":"a"},"s":{"SS":["x","x"]}}`, `{"pk":{"S":"a"},"n":{"N":"1E+200"}}`,
		`{"pk":{"S":"a"},"n":{"NS":["1","1.0"]}}`, `{"pk":{"S":"a"},"m":{"M":{"s":{"BS":[]}}}}`} {
		if _, _, ok := ValidCanonical([]byte(s), []string{"pk"}); ok {
			t.Errorf("%s: taken as valid", s)
		}
	}
	for _, c := range []struct {
		item string
		keys []string
		key  string
	}{
		{`{"pk":{"S":""},"v":{"N":"1"}}`, []string{"pk"}, ""},
		{`{"pk":{"BOOL":true}}`, []string{"pk"}, ""},
		{`{"v":{"N":"1"}}`, []string{"pk"}, ""},
		{`{"a":{"N":"1"},"pk":{"S":"x"},"sk":{"N":"2"}}`, []string{"sk", "pk"}, `{"pk":{"S":"x"},"sk":{"N":"2"}}`},
	} {
		_, key, ok := ValidCanonical([]byte(c.item), c.keys)
		if !ok || string(key) != c.key {
			t.Errorf("%s: key %q, %v; want %q", c.item, key, ok, c.key)
		}
	}
}
