package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/dynasnap/dynasnap/internal/store"
)

// Snapshot is a finished snapshot opened for reading.
type Snapshot struct {
	Store   store.Store
	Summary *Summary
	Files   []FileEntry
}

// Open reads the manifests of the snapshot in st; a folder without
// manifest-summary.json is refused (ErrIncomplete).
func Open(ctx context.Context, st store.Store) (*Snapshot, error) {
	sum, err := ReadSummary(ctx, st)
	if err != nil {
		return nil, err
	}
	files, err := ReadFiles(ctx, st)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Store: st, Summary: sum, Files: files}, nil
}

// Line is one item of a snapshot with where it came from.
type Line struct {
	Item   json.RawMessage // the item as compact DynamoDB JSON
	Source SidecarLine     // zero if the snapshot has no sidecar
}

// Each calls fn for every item of one data file, in file order.
func (s *Snapshot) Each(ctx context.Context, f FileEntry, fn func(Line) error) error {
	data, err := s.openLines(ctx, f.Data)
	if err != nil {
		return err
	}
	defer data.Close()
	var side *lineReader
	if f.Sidecar != "" {
		if side, err = s.openLines(ctx, f.Sidecar); err != nil {
			return err
		}
		defer side.Close()
	}
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, err := data.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s line %d: %w", s.Store.URL(f.Data), n+1, err)
		}
		n++
		var l struct {
			Item json.RawMessage `json:"Item"`
		}
		if err := json.Unmarshal(raw, &l); err != nil || len(l.Item) == 0 {
			return fmt.Errorf("read %s line %d: not an {\"Item\":...} line", s.Store.URL(f.Data), n)
		}
		line := Line{Item: l.Item}
		if side != nil {
			sraw, err := side.next()
			if err != nil {
				return fmt.Errorf("read %s line %d: %w", s.Store.URL(f.Sidecar), n, err)
			}
			if err := json.Unmarshal(sraw, &line.Source); err != nil {
				return fmt.Errorf("read %s line %d: %w", s.Store.URL(f.Sidecar), n, err)
			}
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	if n != f.ItemCount {
		return fmt.Errorf("%s has %d items, its manifest says %d", s.Store.URL(f.Data), n, f.ItemCount)
	}
	return nil
}

// EachItem calls fn for every item of the snapshot, file by file.
func (s *Snapshot) EachItem(ctx context.Context, fn func(Line) error) error {
	for _, f := range s.Files {
		if err := s.Each(ctx, f, fn); err != nil {
			return err
		}
	}
	return nil
}

type lineReader struct {
	raw io.ReadCloser
	dec io.ReadCloser
	br  *bufio.Reader
}

func (s *Snapshot) openLines(ctx context.Context, name string) (*lineReader, error) {
	raw, err := s.Store.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	c := s.Summary.Dynasnap.Compression
	if c == "" { // an AWS export: the extension tells
		c = compressionOf(name)
	}
	dec, err := decompressor(raw, c)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("open %s: %w", s.Store.URL(name), err)
	}
	return &lineReader{raw: raw, dec: dec, br: bufio.NewReaderSize(dec, 1<<20)}, nil
}

func (r *lineReader) next() ([]byte, error) {
	for {
		line, err := r.br.ReadBytes('\n')
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			return line, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (r *lineReader) Close() error {
	r.dec.Close()
	return r.raw.Close()
}
