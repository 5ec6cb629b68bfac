package parquetfmt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/gzip"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// DefaultRowGroupBytes is the default row group size, counted in item JSON
// bytes: with zstd a row group comes out at roughly a quarter of that,
// within what Athena reads well (it splits work by row group), while
// keeping one open row group per part in memory affordable.
const DefaultRowGroupBytes = 64 << 20

// WriterOptions configure a Parquet file.
type WriterOptions struct {
	Compression   string // zstd, gzip or none
	RowGroupBytes int64  // item JSON bytes per row group; 0: DefaultRowGroupBytes
	CreatedBy     string // the writing tool, recorded in the footer
}

func codec(name string) (compress.Codec, error) {
	switch name {
	case "zstd", "":
		// One core per codec: parts are written concurrently already.
		return &zstd.Codec{Level: zstd.DefaultLevel, Concurrency: 1}, nil
	case "gzip":
		return &gzip.Codec{Level: gzip.DefaultCompression}, nil
	case "none":
		return &parquet.Uncompressed, nil
	}
	return nil, fmt.Errorf("parquet compression %q: want zstd, gzip or none", name)
}

func (o WriterOptions) writerOptions(l *Layout) ([]parquet.WriterOption, error) {
	c, err := codec(o.Compression)
	if err != nil {
		return nil, err
	}
	return []parquet.WriterOption{
		l.schema,
		parquet.Compression(c),
		parquet.CreatedBy(o.CreatedBy, "", ""),
		parquet.KeyValueMetadata(MetadataKey, string(l.JSON())),
		// The item column is large text: statistics and page bounds of it
		// would only bloat the footer.
		parquet.SkipPageBounds(ColItem),
		parquet.SkipPageStatistics(ColItem),
	}, nil
}

// Writer writes items into one Parquet file.
type Writer struct {
	w       *parquet.Writer
	enc     *Encoder
	row     []parquet.Row
	limit   int64
	pending int64
}

// NewWriter starts a Parquet file of layout l on out.
func NewWriter(out io.Writer, l *Layout, o WriterOptions) (*Writer, error) {
	opts, err := o.writerOptions(l)
	if err != nil {
		return nil, err
	}
	limit := o.RowGroupBytes
	if limit <= 0 {
		limit = DefaultRowGroupBytes
	}
	return &Writer{w: parquet.NewWriter(out, opts...), enc: l.NewEncoder(), row: make([]parquet.Row, 1), limit: limit}, nil
}

// Write adds one item (compact DynamoDB JSON). The row is written at once,
// so body may be reused when Write returns.
func (w *Writer) Write(body []byte, m Meta) error {
	var err error
	if w.row[0], err = w.enc.Row(w.row[0], body, m); err != nil {
		return err
	}
	if _, err := w.w.WriteRows(w.row); err != nil {
		return fmt.Errorf("write parquet row: %w", err)
	}
	w.pending += int64(len(body))
	if w.pending >= w.limit {
		w.pending = 0
		if err := w.w.Flush(); err != nil {
			return fmt.Errorf("write parquet row group: %w", err)
		}
	}
	return nil
}

// Misses counts typed-column values written as NULL because they did not
// fit the column's type.
func (w *Writer) Misses() int64 { return w.enc.Misses }

// Close writes the last row group and the footer; it does not close out.
func (w *Writer) Close() error {
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("finish parquet file: %w", err)
	}
	return nil
}

// Open opens a Parquet file written by dynasnap.
func Open(r io.ReaderAt, size int64) (*parquet.File, error) {
	f, err := parquet.OpenFile(r, size, parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("open parquet file: %w", err)
	}
	return f, nil
}

// SchemaOf returns the table schema recorded in a file's metadata.
func SchemaOf(f *parquet.File) (*TableSchema, error) {
	raw, ok := f.Lookup(MetadataKey)
	if !ok {
		return nil, fmt.Errorf("parquet file has no %s metadata: not written by dynasnap", MetadataKey)
	}
	var ts TableSchema
	if err := json.Unmarshal([]byte(raw), &ts); err != nil {
		return nil, fmt.Errorf("parquet metadata %s: %w", MetadataKey, err)
	}
	return &ts, nil
}

// Reader gives back the items of a file, in order, from its item column
// alone: the typed columns are derived from it and need no decoding.
type Reader struct {
	f     *parquet.File
	col   int
	rg    int
	pages parquet.Pages
	vals  parquet.ValueReader
	buf   []parquet.Value
	i, n  int
}

// NewReader reads the items of f.
func NewReader(f *parquet.File) (*Reader, error) {
	c, ok := f.Schema().Lookup(ColItem)
	if !ok {
		return nil, fmt.Errorf("parquet file has no %q column: not a dynasnap snapshot file", ColItem)
	}
	return &Reader{f: f, col: c.ColumnIndex, buf: make([]parquet.Value, 256)}, nil
}

// Next returns the next item as compact DynamoDB JSON (a fresh slice), or io.EOF.
func (r *Reader) Next() (json.RawMessage, error) {
	for r.i >= r.n {
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
	v := r.buf[r.i]
	r.i++
	if v.IsNull() {
		return nil, errors.New("item column holds a NULL")
	}
	// The value points into the page buffer, which the next page reuses.
	return append(json.RawMessage(nil), v.ByteArray()...), nil
}

func (r *Reader) fill() error {
	r.i, r.n = 0, 0
	for {
		if r.vals != nil {
			n, err := r.vals.ReadValues(r.buf)
			r.n = n
			if err == io.EOF {
				r.vals = nil
				err = nil
			}
			if err != nil {
				return fmt.Errorf("read parquet item column: %w", err)
			}
			if n > 0 {
				return nil
			}
			continue
		}
		if r.pages != nil {
			p, err := r.pages.ReadPage()
			if err == io.EOF {
				r.pages.Close()
				r.pages = nil
				continue
			}
			if err != nil {
				return fmt.Errorf("read parquet page: %w", err)
			}
			r.vals = p.Values()
			continue
		}
		rgs := r.f.RowGroups()
		if r.rg >= len(rgs) {
			return io.EOF
		}
		r.pages = rgs[r.rg].ColumnChunks()[r.col].Pages()
		r.rg++
	}
}

// Close releases the page reader.
func (r *Reader) Close() error {
	if r.pages != nil {
		return r.pages.Close()
	}
	return nil
}
