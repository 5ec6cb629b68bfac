package snapshot

import (
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compressions are the supported data file compressions, by name.
var extensions = map[string]string{"gzip": ".gz", "zstd": ".zst", "none": ""}

func checkCompression(c string) error {
	if _, ok := extensions[c]; !ok {
		return fmt.Errorf("compression %q: want gzip, zstd or none", c)
	}
	return nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// compressor wraps w; gzip members and zstd frames concatenate, which is how
// --single-file joins parts.
func compressor(w io.Writer, c string) (io.WriteCloser, error) {
	switch c {
	case "gzip":
		return gzip.NewWriterLevel(w, gzip.DefaultCompression)
	case "zstd":
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	case "none":
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("compression %q: want gzip, zstd or none", c)
}

// decompressor reads a data file; the compression is named by the summary.
func decompressor(r io.Reader, c string) (io.ReadCloser, error) {
	switch c {
	case "gzip":
		return gzip.NewReader(r)
	case "zstd":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case "none", "":
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("compression %q: want gzip, zstd or none", c)
}

func compressionOf(name string) string {
	switch {
	case strings.HasSuffix(name, ".gz"):
		return "gzip"
	case strings.HasSuffix(name, ".zst"):
		return "zstd"
	}
	return "none"
}
