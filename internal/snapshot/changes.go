package snapshot

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/dynasnap/dynasnap/internal/store"
)

// Changes is an incremental export opened for reading: AWS's or one that
// diff --out wrote (docs/DESIGN.md §5.10).
type Changes struct {
	Store   store.Store
	Summary *Summary
	Files   []FileEntry
}

// OpenChanges reads the manifests of the incremental export in st, or of
// the one export under st/AWSDynamoDB/ (Locate). A full export is refused,
// and so is one in Amazon Ion format.
func OpenChanges(ctx context.Context, st store.Store) (*Changes, error) {
	st, sum, files, err := openExport(ctx, st, true)
	if err != nil {
		return nil, err
	}
	return &Changes{Store: st, Summary: sum, Files: files}, nil
}

// Change is one line of an incremental export.
type Change struct {
	// Micros is Metadata.WriteTimestampMicros: when the change was written.
	Micros int64
	Keys   json.RawMessage
	// NewImage is the item after the change; nil for a deletion.
	NewImage json.RawMessage
	OldImage json.RawMessage
}

// Each calls fn for every change of one data file, in file order, and
// checks the file's line count and MD5 against its manifest line.
func (c *Changes) Each(ctx context.Context, f FileEntry, fn func(Change) error) error {
	file, err := c.Store.Open(ctx, f.Data)
	if err != nil {
		return err
	}
	defer file.Close()
	raw := &md5Reader{r: file, md5: md5.New()}
	comp := c.Summary.Dynasnap.Compression
	if comp == "" {
		comp = compressionOf(f.Data)
	}
	dec, err := decompressor(raw, comp)
	if err != nil {
		return fmt.Errorf("open %s: %w", c.Store.URL(f.Data), err)
	}
	defer dec.Close()
	br := bufio.NewReaderSize(dec, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, err := nextLine(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", c.Store.URL(f.Data), err)
		}
		n++
		ch, err := parseChange(line)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", c.Store.URL(f.Data), n, err)
		}
		if err := fn(ch); err != nil {
			return err
		}
	}
	if n != f.ItemCount {
		return fmt.Errorf("%s has %d lines, its manifest says %d", c.Store.URL(f.Data), n, f.ItemCount)
	}
	if f.MD5Checksum != "" {
		if _, err := io.Copy(io.Discard, raw); err != nil {
			return fmt.Errorf("read %s: %w", c.Store.URL(f.Data), err)
		}
		if got := b64(raw.md5.Sum(nil)); got != f.MD5Checksum {
			return fmt.Errorf("%s is corrupt: its MD5 is %s, manifest-files.json says %s", c.Store.URL(f.Data), got, f.MD5Checksum)
		}
	}
	return nil
}

// parseChange reads one line: WriteTimestampMicros as AWS writes it, a
// DynamoDB number ({"N":"..."}), or as a bare JSON number (dynasnap's diff
// before it took AWS's shape).
func parseChange(line []byte) (Change, error) {
	var l struct {
		Metadata struct {
			WriteTimestampMicros json.RawMessage
		}
		Keys     json.RawMessage
		NewImage json.RawMessage
		OldImage json.RawMessage
	}
	if err := json.Unmarshal(line, &l); err != nil {
		return Change{}, fmt.Errorf("not an incremental export line: %w", err)
	}
	if len(l.Keys) == 0 || l.Keys[0] != '{' {
		return Change{}, fmt.Errorf("no Keys: %.80s", line)
	}
	var micros int64
	var typed struct{ N string }
	ts := l.Metadata.WriteTimestampMicros
	switch {
	case len(ts) > 0 && ts[0] == '{' && json.Unmarshal(ts, &typed) == nil && typed.N != "":
		v, err := strconv.ParseInt(typed.N, 10, 64)
		if err != nil {
			return Change{}, fmt.Errorf("WriteTimestampMicros %q: %w", typed.N, err)
		}
		micros = v
	case len(ts) > 0:
		if err := json.Unmarshal(ts, &micros); err != nil {
			return Change{}, fmt.Errorf("WriteTimestampMicros %s: %w", ts, err)
		}
	default:
		return Change{}, fmt.Errorf("no Metadata.WriteTimestampMicros: %.80s", line)
	}
	ch := Change{Micros: micros, Keys: l.Keys}
	if len(l.NewImage) > 0 && string(l.NewImage) != "null" {
		ch.NewImage = l.NewImage
	}
	if len(l.OldImage) > 0 && string(l.OldImage) != "null" {
		ch.OldImage = l.OldImage
	}
	return ch, nil
}
