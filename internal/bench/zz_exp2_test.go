package bench

import (
	"bytes"
	"compress/gzip"
	"testing"

	"github.com/dynasnap/dynasnap/internal/item"
)

func BenchmarkExpItemRoundTrip(b *testing.B) {
	_, body, _ := encodeItem(12345, 2)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		it, err := item.Unmarshal(body)
		if err != nil {
			b.Fatal(err)
		}
		item.Size(it)
		if _, err := item.Marshal(it); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExpGzip(b *testing.B) {
	_, body, _ := encodeItem(12345, 2)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		zw.Write([]byte(`{"Item":`))
		zw.Write(body)
		zw.Write([]byte("}\n"))
		if out.Len() > 1<<20 {
			out.Reset()
		}
	}
}

func BenchmarkExpUnmarshal(b *testing.B) {
	_, body, _ := encodeItem(12345, 2)
	for b.Loop() {
		item.Unmarshal(body)
	}
}

func BenchmarkExpMarshal(b *testing.B) {
	_, body, _ := encodeItem(12345, 2)
	it, _ := item.Unmarshal(body)
	for b.Loop() {
		item.Marshal(it)
	}
}
