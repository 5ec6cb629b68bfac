package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"sync/atomic"

	"github.com/dynasnap/dynasnap/internal/scan"
)

type runCounts struct{ fetched, reused atomic.Int64 }

// checkRunShape validates the options that depend on each other: a base
// decides the range split, since the merge-join goes range by range.
func checkRunShape(opts *Options) error {
	if opts.Shards > 0 {
		if opts.Shard < 0 || opts.Shard >= opts.Shards {
			return fmt.Errorf("shard %d/%d: the index must be in 0..%d", opts.Shard, opts.Shards, opts.Shards-1)
		}
		if opts.SingleFile {
			return fmt.Errorf("--single-file cannot be sharded: each shard writes its own parts")
		}
	}
	b := opts.Base
	if b == nil {
		return nil
	}
	d := b.Summary.Dynasnap
	switch {
	case d.Source != opts.Source.String():
		return fmt.Errorf("base snapshot %s is of %s, not of %s", b.Store.URL(""), d.Source, opts.Source)
	case b.Summary.ExportTime.After(opts.At):
		return fmt.Errorf("base snapshot %s is at %s, later than --at %s; a base must be older", b.Store.URL(""),
			b.Summary.ExportTime.UTC().Format("2006-01-02T15:04:05Z07:00"), opts.At.UTC().Format("2006-01-02T15:04:05Z07:00"))
	case d.FormatVersion != FormatVersion || d.Ranges == 0:
		return fmt.Errorf("base snapshot %s has layout version %d, want %d with key ranges; take a new full snapshot", b.Store.URL(""), d.FormatVersion, FormatVersion)
	case d.SingleFile:
		return fmt.Errorf("base snapshot %s was written with --single-file; a base needs its per-range parts", b.Store.URL(""))
	}
	for _, f := range b.Files {
		if f.Sidecar == "" {
			return fmt.Errorf("base snapshot %s has no sidecar for %s; it cannot tell which versions it holds", b.Store.URL(""), f.Data)
		}
	}
	opts.Ranges = d.Ranges
	return nil
}

// baseCursor walks the base's items of one range in object-key order,
// alongside the fold.
type baseCursor struct {
	next func() (Line, error, bool)
	cur  Line
	ok   bool
	err  error
}

func baseRange(ctx context.Context, base *Snapshot, r scan.Range) (*baseCursor, func()) {
	if base == nil {
		return nil, func() {}
	}
	var files []FileEntry
	for _, f := range base.Files {
		if f.Range == r.Index {
			files = append(files, f)
		}
	}
	seq := func(yield func(Line, error) bool) {
		for _, f := range files {
			stop := false
			err := base.Each(ctx, f, func(l Line) error {
				if !yield(l, nil) {
					stop = true
					return errStopIter
				}
				return nil
			})
			if stop {
				return
			}
			if err != nil {
				yield(Line{}, err)
				return
			}
		}
	}
	next, stop := iter.Pull2(iter.Seq2[Line, error](seq))
	c := &baseCursor{next: next}
	c.advance()
	return c, stop
}

var errStopIter = fmt.Errorf("stop")

func (c *baseCursor) advance() {
	var l Line
	l, c.err, c.ok = c.next()
	if c.err != nil {
		c.ok = false
	}
	c.cur = l
}

// drain reads the rest of the range's base files, so that each one's item
// count and MD5 are checked, and returns the first error.
func (c *baseCursor) drain() error {
	if c == nil {
		return nil
	}
	for c.ok {
		c.advance()
	}
	if c.err != nil {
		return fmt.Errorf("read base snapshot: %w", c.err)
	}
	return nil
}

// match returns the base's item for e if the base holds exactly the version
// the fold chose; base items for keys before e are passed over (they no
// longer exist).
func (c *baseCursor) match(e scan.Entry) (json.RawMessage, error) {
	if c == nil {
		return nil, nil
	}
	for c.ok && c.cur.Source.Key < e.Key {
		c.advance()
	}
	if c.err != nil {
		return nil, fmt.Errorf("read base snapshot: %w", c.err)
	}
	if c.ok && c.cur.Source.Key == e.Key && c.cur.Source.VersionID == e.VersionID {
		return bytes.Clone(c.cur.Item), nil
	}
	return nil, nil
}
