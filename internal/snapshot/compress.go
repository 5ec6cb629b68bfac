package snapshot

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

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
// --single-file joins parts. It compresses in a goroutine of its own, so
// the walk that feeds it and the compression use two cores: w is written
// only from there, and only until Close returns.
func compressor(w io.Writer, c string) (io.WriteCloser, error) {
	switch c {
	case "gzip":
		// Level 1: on items a file about 7% larger than level 5's for
		// half the CPU, and on the sidecar (random ids and version ids,
		// which no level shrinks much) a quarter of it; a snapshot is
		// often read once, and any level gunzips alike.
		bw := bufio.NewWriterSize(w, compressedBuffer)
		z, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
		if err != nil {
			return nil, err
		}
		return newAsyncWriter(flushingCloser{z, bw}), nil
	case "zstd":
		bw := bufio.NewWriterSize(w, compressedBuffer)
		z, err := zstd.NewWriter(bw, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return newAsyncWriter(flushingCloser{z, bw}), nil
	case "none":
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("compression %q: want gzip, zstd or none", c)
}

// compressedBuffer gathers a compressor's output before it reaches the
// file: gzip emits a few hundred bytes at a time, and a write system
// call for each took about a tenth of a snapshot's CPU.
const compressedBuffer = 256 << 10

// flushingCloser closes a compressor, then writes out what its buffer
// still holds.
type flushingCloser struct {
	io.WriteCloser
	bw *bufio.Writer
}

func (f flushingCloser) Close() error {
	if err := f.WriteCloser.Close(); err != nil {
		return err
	}
	return f.bw.Flush()
}

// asyncChunk is how much is handed to the compressing goroutine at a time.
const asyncChunk = 256 << 10

// asyncWriter hands what is written, in chunks, to a goroutine that writes
// it to w; an error there is returned by a later Write or by Close.
type asyncWriter struct {
	w    io.WriteCloser
	buf  []byte
	in   chan []byte
	free chan []byte
	done chan error
	err  atomic.Pointer[error]
}

func newAsyncWriter(w io.WriteCloser) *asyncWriter {
	a := &asyncWriter{w: w, buf: make([]byte, 0, asyncChunk+4096), in: make(chan []byte, 2), free: make(chan []byte, 3), done: make(chan error, 1)}
	in := a.in // Close clears the field
	go func() {
		var err error
		for b := range in {
			if err == nil {
				if _, err = a.w.Write(b); err != nil {
					a.err.Store(&err)
				}
			}
			select {
			case a.free <- b[:0]:
			default:
			}
		}
		if cerr := a.w.Close(); err == nil {
			err = cerr
		}
		a.done <- err
	}()
	return a
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	if e := a.err.Load(); e != nil {
		return 0, *e
	}
	a.buf = append(a.buf, p...)
	if len(a.buf) >= asyncChunk {
		a.in <- a.buf
		select {
		case a.buf = <-a.free:
		default:
			a.buf = make([]byte, 0, asyncChunk+4096)
		}
	}
	return len(p), nil
}

func (a *asyncWriter) Close() error {
	if a.in == nil {
		return nil
	}
	if len(a.buf) > 0 {
		a.in <- a.buf
	}
	close(a.in)
	a.in = nil
	return <-a.done
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
