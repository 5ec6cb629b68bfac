package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"sort"

	"github.com/dynasnap/dynasnap/internal/history"
)

// checkRunShape validates the options that depend on each other.
func checkRunShape(opts *Options) error {
	if opts.Shards > 0 {
		if opts.Shard < 0 || opts.Shard >= opts.Shards {
			return fmt.Errorf("shard %d/%d: the index must be in 0..%d", opts.Shard, opts.Shards, opts.Shards-1)
		}
		if opts.SingleFile {
			return fmt.Errorf("--single-file cannot be sharded: each shard writes its own parts")
		}
	}
	if opts.Ranges < 0 || opts.Ranges > history.MaxRanges {
		return fmt.Errorf("%d key ranges: want 1 to %d, or 0 for auto", opts.Ranges, history.MaxRanges)
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
	case d.FormatVersion < 1 || d.FormatVersion > FormatVersion:
		return fmt.Errorf("base snapshot %s has layout version %d, this version reads 1 to %d; take a new full snapshot", b.Store.URL(""), d.FormatVersion, FormatVersion)
	}
	for _, f := range b.Files {
		if f.Sidecar == "" {
			return fmt.Errorf("base snapshot %s has no sidecar for %s; it cannot tell which versions it holds", b.Store.URL(""), f.Data)
		}
	}
	return nil
}

// baseCursor walks the base's items in object-key order alongside the
// fold. Every data file of a snapshot is sorted by object key and the
// files do not overlap (docs/DESIGN.md §5), so the base is one ordered
// stream: its files in order of their first key, from the first that can
// hold a key of the run's interval.
type baseCursor struct {
	next func() (Line, error, bool)
	stop func()
	cur  Line
	ok   bool
	err  error
}

func newBaseCursor(ctx context.Context, base *Snapshot, dir string, plan history.Plan) (*baseCursor, error) {
	if base == nil {
		return nil, nil
	}
	lo, hi, err := plan.Interval()
	if err != nil {
		return nil, err
	}
	files := append([]FileEntry(nil), base.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].FirstKey < files[j].FirstKey })
	var mine []FileEntry
	for _, f := range files {
		if f.ItemCount == 0 || lo != "" && f.LastKey != "" && f.LastKey < dir+lo || hi != "" && f.FirstKey >= dir+hi {
			continue
		}
		mine = append(mine, f)
	}
	seq := func(yield func(Line, error) bool) {
		for _, f := range mine {
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
	c := &baseCursor{next: next, stop: stop}
	c.advance()
	return c, nil
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

func (c *baseCursor) close() {
	if c != nil {
		c.stop()
	}
}

// drain reads the rest of the base's files, so that each one's item count
// and MD5 are checked, and returns the first error.
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
func (c *baseCursor) match(e history.Entry) (json.RawMessage, error) {
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
