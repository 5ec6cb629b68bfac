package item

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func corpus(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in testdata/%s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = bytes.TrimSpace(b)
	}
	return out
}

// semanticallyEqual compares two JSON documents ignoring object key order.
func semanticallyEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("unmarshal %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func TestRoundTripCorpus(t *testing.T) {
	for name, data := range corpus(t, "items") {
		t.Run(name, func(t *testing.T) {
			it, err := Unmarshal(data)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := Marshal(it)
			if err != nil {
				t.Fatal(err)
			}
			if !semanticallyEqual(t, data, enc) {
				t.Fatalf("round trip changed the item:\n in: %s\nout: %s", data, enc)
			}
			again, err := Unmarshal(enc)
			if err != nil {
				t.Fatal(err)
			}
			enc2, _ := Marshal(again)
			if !bytes.Equal(enc, enc2) {
				t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
			}
		})
	}
}

func TestExactTypes(t *testing.T) {
	it, err := Unmarshal(corpus(t, "items")["all-types.json"])
	if err != nil {
		t.Fatal(err)
	}
	if n := it["sk"].(*types.AttributeValueMemberN).Value; n != "12345678901234567890123456789012345678" {
		t.Errorf("38-digit number changed: %s", n)
	}
	if b := it["b"].(*types.AttributeValueMemberB).Value; !bytes.Equal(b, []byte{0, 1, 2, 0xfd, 0xfe, 0xff}) {
		t.Errorf("binary changed: %v", b)
	}
	if s := it["empty"].(*types.AttributeValueMemberS).Value; s != "" {
		t.Errorf("empty string changed: %q", s)
	}
	if ss := it["ss"].(*types.AttributeValueMemberSS).Value; strings.Join(ss, ",") != "a,b,ünï" {
		t.Errorf("string set changed: %v", ss)
	}
}

func TestLargeItem(t *testing.T) {
	big := strings.Repeat("é漢😀x", 400*1024/10)
	it := Item{"pk": &types.AttributeValueMemberS{Value: "big"}, "blob": &types.AttributeValueMemberS{Value: big},
		"bin": &types.AttributeValueMemberB{Value: bytes.Repeat([]byte{0xff, 0}, 1000)}}
	enc, err := Marshal(it)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) < 400*1024 {
		t.Fatalf("item is only %d bytes", len(enc))
	}
	back, err := Unmarshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	if back["blob"].(*types.AttributeValueMemberS).Value != big {
		t.Fatal("400 KB string changed")
	}
}

func TestMalformed(t *testing.T) {
	want := map[string]string{
		"string-not-string.json": "$.a.S",
		"number-malformed.json":  "$.a.N",
		"number-not-string.json": "$.a.N",
		"binary-not-base64.json": "$.a.B",
		"unknown-type.json":      `"X"`,
		"two-types.json":         "exactly one type",
		"nested-bool.json":       "$.a.M.b.L[1].BOOL",
		"null-false.json":        "NULL must be true",
		"truncated.json":         "malformed JSON",
		"not-object.json":        "object of attributes",
		"number-39-digits.json":  "38 significant digits",
	}
	for name, data := range corpus(t, "bad") {
		t.Run(name, func(t *testing.T) {
			_, err := Unmarshal(data)
			if err == nil {
				t.Fatalf("accepted %s", data)
			}
			if w, ok := want[name]; !ok || !strings.Contains(err.Error(), w) {
				t.Fatalf("error %q should mention %q", err, w)
			}
		})
	}
}

func TestCanonicalKeyOrder(t *testing.T) {
	a, err := Unmarshal([]byte(`{"pk":{"S":"a"},"sk":{"N":"1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Unmarshal([]byte(`{"sk":{"N":"1"},"pk":{"S":"a"}}`))
	if err != nil {
		t.Fatal(err)
	}
	ka, _ := CanonicalKey(a)
	kb, _ := CanonicalKey(b)
	if string(ka) != `{"pk":{"S":"a"},"sk":{"N":"1"}}` || !bytes.Equal(ka, kb) {
		t.Fatalf("canonical keys differ: %s vs %s", ka, kb)
	}
	if ObjectID(ka) != ObjectID(kb) || len(ObjectID(ka)) != 64 {
		t.Fatalf("object ids differ")
	}
	full, _ := Unmarshal([]byte(`{"sk":{"N":"1"},"x":{"S":"y"},"pk":{"S":"a"}}`))
	kf, err := KeyID(full, "sk", "pk")
	if err != nil || kf != ObjectID(ka) {
		t.Fatalf("KeyID of the full item = %s, %v", kf, err)
	}
	if _, err := KeyID(full, "nope"); err == nil {
		t.Fatal("missing key attribute accepted")
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, data := range corpus(f, "items") {
		f.Add(data)
	}
	for _, data := range corpus(f, "bad") {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := Unmarshal(data)
		if err != nil {
			return
		}
		enc, err := Marshal(it)
		if err != nil {
			t.Fatalf("decoded item does not encode: %v", err)
		}
		back, err := Unmarshal(enc)
		if err != nil {
			t.Fatalf("own encoding does not decode: %v\n%s", err, enc)
		}
		enc2, err := Marshal(back)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// The fast decoder answers only where it agrees with the careful one.
func FuzzFastDecoder(f *testing.F) {
	for _, data := range corpus(f, "items") {
		f.Add(data)
	}
	for _, data := range corpus(f, "bad") {
		f.Add(data)
	}
	for _, s := range []string{
		`{"a":{"S":"x"},"a":{"S":"y"}}`, `{"a":{"S":"x","S":"y"}}`, `{"a":{"S":"\ud83d\ude00"}}`, `{"a":{"S":"\u00e9\n\t\"\\\/"}}`,
		`{"a":{"S":"x"}} }`, ` {"a" : { "L" : [ {"NULL":true} , {"BOOL":false} ] } } `, `{"a":{"NS":[]},"b":{"BS":["AAE="]},"c":{"B":""}}`,
		"{\"a\":{\"S\":\"\xff\"}}", `{"a":{"M":{"b":{"M":{}}}}}`, `{"a":{"N":"1e400"}}`, `{"a":{"N":"+0.5"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := fastUnmarshal(data)
		if !ok {
			return
		}
		careful, err := carefulUnmarshal(data)
		if err != nil {
			t.Fatalf("fast decoder accepted what the careful one refuses (%v):\n%q", err, data)
		}
		if !reflect.DeepEqual(fast, careful) {
			t.Fatalf("decoders disagree on %q:\nfast    %#v\ncareful %#v", data, fast, careful)
		}
	})
}

func TestAppendItemAndCanonicalIsBoth(t *testing.T) {
	for _, js := range []string{
		`{"k":{"S":"x\"y\n"},"n":{"N":"-01.500"},"ns":{"NS":["10","9.0","1e1"]},"ss":{"SS":["b","a","c"]},"bs":{"BS":["Ag==","AQ=="]},"l":{"L":[{"N":"2.0"},{"SS":["z","y"]},{"M":{"b":{"B":"AQ=="},"a":{"NULL":true}}}]},"m":{"M":{"n":{"N":"0.0"},"t":{"BOOL":false}}}}`,
		`{"pk":{"S":"a"}}`,
		`{}`,
	} {
		it, err := Unmarshal([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		raw, canon, err := AppendItemAndCanonical([]byte("x"), nil, it)
		if err != nil {
			t.Fatal(err)
		}
		wantRaw, _ := AppendItem([]byte("x"), it)
		wantCanon, _ := AppendCanonical(nil, it)
		if string(raw) != string(wantRaw) || string(canon) != string(wantCanon) {
			t.Fatalf("%s:\n raw   %s\n want  %s\n canon %s\n want  %s", js, raw, wantRaw, canon, wantCanon)
		}
	}
	bad := Item{"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{nil}}}}}
	_, _, err := AppendItemAndCanonical(nil, nil, bad)
	if err == nil || !strings.Contains(err.Error(), "item at $.m.l[0]:") {
		t.Fatalf("error %v, want the path $.m.l[0]", err)
	}
	if _, err := Marshal(bad); err == nil || !strings.Contains(err.Error(), "item at $.m.l[0]:") {
		t.Fatalf("Marshal error %v, want the path $.m.l[0]", err)
	}
}
