package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/parquetfmt"
	"github.com/dynasnap/dynasnap/internal/store"
)

// SchemaName is the resolved table schema of a Parquet snapshot, beside its
// manifests; it is a valid --schema for the next snapshot of the table.
const SchemaName = "table-schema.json"

// DefaultInferSample is how many items a schema is inferred from.
const DefaultInferSample = 1000

// ParquetOptions configure --format parquet.
type ParquetOptions struct {
	// Schema is the table schema (--schema). Without one, the schema is
	// inferred from the first InferSample items of the snapshot, in object
	// key order, before any part is written: every part of a snapshot must
	// have the same columns, and object ids are SHA-256 hashes, so the
	// first items by key are a uniform sample of the table. The sample is
	// the same for the same --at, so the shards of a sharded run agree.
	Schema      *parquetfmt.TableSchema
	InferSample int
	// RowGroupBytes is the row group size in item JSON bytes.
	RowGroupBytes int64
	// Misses, if set, counts typed-column values written as NULL because
	// they did not fit their column's type.
	Misses *atomic.Int64

	layout *parquetfmt.Layout
}

// prepareParquet settles the schema of a Parquet run before any part is
// written, and records it in the output folder.
// ready blocks until the folder is claimed.
func prepareParquet(ctx context.Context, src history.Source, out store.Store, opts *Options, ready func() error) error {
	if opts.Format != FormatParquet {
		return nil
	}
	pq := &opts.Parquet
	ts := pq.Schema
	if ts == nil {
		n := pq.InferSample
		if n <= 0 {
			n = DefaultInferSample
		}
		samples, err := sampleItems(ctx, src, opts, n)
		if err != nil {
			return fmt.Errorf("sample items to infer the parquet schema: %w", err)
		}
		if len(samples) == 0 {
			// An empty snapshot: the run reports that itself (or it is
			// a shard or filter that matches nothing). No part will be
			// written, so no columns are needed.
			return nil
		}
		if ts, err = parquetfmt.Infer(opts.Source.Table(), samples); err != nil {
			return err
		}
	} else {
		c := *ts // the caller's schema stays as given
		ts = &c
	}
	l, err := parquetfmt.NewLayout(ts)
	if err != nil {
		return fmt.Errorf("parquet schema: %w", err)
	}
	pq.layout = l
	if err := ready(); err != nil {
		return err
	}
	return out.Put(ctx, SchemaName, l.JSON())
}

var errEnoughSamples = errors.New("enough samples")

// sampleItems returns the first n items of the snapshot at opts.At in
// object key order, over the whole table whatever the shard (so the shards
// of a run agree), filtered as the run filters them: a filter that leaves
// out the first thousand items still gets a sample of what it keeps.
func sampleItems(ctx context.Context, src history.Source, opts *Options, n int) ([]parquetfmt.Sample, error) {
	var out []parquetfmt.Sample
	w := &history.Walk[struct{}]{Source: src, Dir: opts.Source.Dir(), Times: []time.Time{opts.At},
		Plan:     history.Plan{Ranges: opts.Ranges, ListConcurrency: opts.ListConcurrency, PageSize: opts.MaxKeys},
		Fetchers: min(opts.Concurrency, 64), SkipBad: opts.SkipBadObjects,
		Pick: func(k *history.Key) ([]history.Entry, struct{}, bool, error) {
			return []history.Entry{k.At[0]}, struct{}{}, k.Exists[0], nil
		},
		Emit: func(_ context.Context, k *history.Key, _ struct{}, got []history.Version) error {
			out = append(out, parquetfmt.Sample{Item: got[0].Item, ObjectKey: k.ObjectKey})
			if len(out) >= n {
				return errEnoughSamples
			}
			return nil
		}}
	if opts.Filter != nil {
		w.Keep = func(_ context.Context, _ *history.Key, _ struct{}, got []history.Version) (bool, error) {
			return opts.Filter(got[0].Item)
		}
	}
	if _, err := w.Run(ctx); err != nil && !errors.Is(err, errEnoughSamples) {
		return nil, err
	}
	return out, nil
}

// parquetItemWriter adapts parquetfmt.Writer to the part's itemWriter.
type parquetItemWriter struct {
	w      *parquetfmt.Writer
	misses *atomic.Int64
}

func newParquetItemWriter(w io.Writer, compression string, pq *ParquetOptions) (itemWriter, error) {
	if pq == nil || pq.layout == nil {
		return nil, errors.New("parquet part without a schema")
	}
	pw, err := parquetfmt.NewWriter(w, pq.layout, parquetfmt.WriterOptions{Compression: compression, RowGroupBytes: pq.RowGroupBytes, CreatedBy: "dynasnap"})
	if err != nil {
		return nil, err
	}
	return &parquetItemWriter{w: pw, misses: pq.Misses}, nil
}

func (p *parquetItemWriter) Write(e history.Entry, body []byte) error {
	return p.w.Write(body, parquetfmt.Meta{ObjectKey: e.Key, VersionID: e.VersionID, LastModified: e.LastModified})
}

func (p *parquetItemWriter) Close() error {
	if p.misses != nil {
		p.misses.Add(p.w.Misses())
	}
	return p.w.Close()
}

// spooled is a data file copied to a temporary file: Parquet is read from
// its footer backwards, which a stream cannot do, and parts can be far
// larger than memory should hold.
type spooled struct {
	f *os.File
	r *parquetfmt.Reader
}

func (s *spooled) Next() (json.RawMessage, error) { return s.r.Next() }

func (s *spooled) Close() error {
	s.r.Close()
	err := s.f.Close()
	os.Remove(s.f.Name())
	return err
}

// openParquet spools r to a temporary file and opens it.
func openParquet(r io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "dynasnap-read-*.parquet")
	if err != nil {
		return nil, 0, fmt.Errorf("spool parquet data file: %w", err)
	}
	n, err := io.Copy(f, r)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, fmt.Errorf("spool parquet data file: %w", err)
	}
	return f, n, nil
}

func newParquetItemReader(r io.Reader) (itemReader, io.Closer, error) {
	f, n, err := openParquet(r)
	if err != nil {
		return nil, nil, err
	}
	s := &spooled{f: f}
	pf, err := parquetfmt.Open(f, n)
	if err == nil {
		s.r, err = parquetfmt.NewReader(pf)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, nil, err
	}
	return s, s, nil
}

// TableSchema returns the schema a Parquet snapshot was written with: from
// table-schema.json, or else from the footer of its first data file.
func (s *Snapshot) TableSchema(ctx context.Context) (*parquetfmt.TableSchema, error) {
	if s.Summary.OutputFormat != "PARQUET" {
		return nil, fmt.Errorf("%s is a %s snapshot, not Parquet", s.Store.URL(""), s.Summary.OutputFormat)
	}
	if ok, err := s.Store.Exists(ctx, SchemaName); err != nil {
		return nil, err
	} else if ok {
		r, err := s.Store.Open(ctx, SchemaName)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.Store.URL(SchemaName), err)
		}
		ts, err := parquetfmt.ParseSchema(b)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.Store.URL(SchemaName), err)
		}
		return ts, nil
	}
	if len(s.Files) == 0 {
		return nil, fmt.Errorf("%s has neither %s nor data files", s.Store.URL(""), SchemaName)
	}
	r, err := s.Store.Open(ctx, s.Files[0].Data)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, n, err := openParquet(r)
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	pf, err := parquetfmt.Open(f, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Store.URL(s.Files[0].Data), err)
	}
	return parquetfmt.SchemaOf(pf)
}
