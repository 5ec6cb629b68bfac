package parquetfmt

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/item"
)

// BenchmarkEncode is the encoder alone (make bench measures it on a real
// snapshot): items of a typical shape, zstd, to io.Discard.
func BenchmarkEncode(b *testing.B) {
	var bodies [][]byte
	var samples []Sample
	for i := 0; i < 1000; i++ {
		it, _ := item.Unmarshal(fmt.Appendf(nil, `{"pk":{"S":"tenant#%d"},"sk":{"N":"%d"},"price":{"N":"%d.%02d"},"status":{"S":"shipped"},"tags":{"SS":["a","b%d"]},"addr":{"M":{"city":{"S":"Köln"}}}}`, i%7, i, i, i%100, i))
		body, _ := item.Marshal(it)
		id, _ := item.KeyID(it, "pk", "sk")
		bodies = append(bodies, body)
		samples = append(samples, Sample{Item: it, ObjectKey: "t/" + id})
	}
	ts, err := Infer("t", samples)
	if err != nil {
		b.Fatal(err)
	}
	l, _ := NewLayout(ts)
	w, _ := NewWriter(io.Discard, l, WriterOptions{Compression: "zstd"})
	m := Meta{ObjectKey: "bench/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", VersionID: "v1", LastModified: time.Unix(1700000000, 0)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Write(bodies[i%len(bodies)], m); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}
