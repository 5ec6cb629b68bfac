package s3source

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
)

// While an import of a per-item backup has its window open (journal
// marker items/window-<cut>.json, docs/DESIGN.md §10.14), the item
// versions stored after the cut belong to the history too: a writer that
// has not yet switched to segments goes on writing them. Merge reads them
// beside the journal, merged per key by time, until `compact --from-items`
// folds them in and removes the marker.

// versionIter lists the versions under dir with ids in [lo, hi), stored
// after cut, one key at a time.
type versionIter struct {
	s        *Source
	dir      string
	lo, hi   string
	cut      time.Time
	prefix   string
	cur      history.Marker
	page     []history.Entry
	done     bool
	key      string // the next key's, "" at the end
	entries  []history.Entry
	started  bool
	listings int64
}

func newVersionIter(s *Source, dir, lo, hi string, cut time.Time) *versionIter {
	v := &versionIter{s: s, dir: dir, lo: lo, hi: hi, cut: cut, prefix: dir}
	if hi != "" && hi == lo+"\x00" {
		v.prefix = dir + lo // one key (history --key, restore --key)
	}
	return v
}

// fill reads on until the next key's versions are gathered.
func (v *versionIter) fill(ctx context.Context) error {
	v.started = true
	v.key, v.entries = "", nil
	for {
		for len(v.page) > 0 {
			e := v.page[0]
			id := strings.TrimPrefix(e.Key, v.dir)
			if v.key != "" && e.Key != v.key {
				return nil
			}
			v.page = v.page[1:]
			if len(id) != 64 || strings.Contains(id, "/") || id < v.lo || (v.hi != "" && id >= v.hi) {
				continue
			}
			if !e.LastModified.Truncate(time.Second).After(v.cut) {
				continue
			}
			v.key = e.Key
			v.entries = append(v.entries, e)
		}
		if v.done {
			return nil
		}
		page, err := v.s.List(ctx, v.prefix, v.cur, 0)
		if err != nil {
			return err
		}
		v.listings++
		v.page = page.Entries
		if !page.IsTruncated {
			v.done = true
			continue
		}
		next := history.Marker{Key: page.NextKeyMarker, VersionID: page.NextVersionIDMarker}
		if next.Key == "" || next == v.cur {
			return fmt.Errorf("list versions s3://%s/%s: truncated page without progress", v.s.bucket, v.prefix)
		}
		v.cur = next
	}
}

// mergeWindow calls fn with the journal's entries (from merge, in key
// order, each key's newest first) and the item versions after cut, one
// key's entries together, newest first.
func (s *Source) mergeWindow(ctx context.Context, dir, lo, hi string, cut time.Time, stats *history.Stats, merge func(fn func(history.Entry) error) (bool, error), fn func(history.Entry) error) (bool, error) {
	vi := newVersionIter(s, dir, lo, hi, cut)
	emit := func(es []history.Entry) error {
		slices.SortStableFunc(es, func(a, b history.Entry) int { return b.LastModified.Compare(a.LastModified) })
		for i := range es {
			es[i].IsLatest = i == 0
			if err := fn(es[i]); err != nil {
				return err
			}
		}
		return nil
	}
	// flush hands over the keys with only item versions before key ("":
	// all of them).
	flush := func(key string) error {
		for {
			if !vi.started {
				if err := vi.fill(ctx); err != nil {
					return err
				}
			}
			if vi.key == "" || (key != "" && vi.key >= key) {
				return nil
			}
			if err := emit(vi.entries); err != nil {
				return err
			}
			if err := vi.fill(ctx); err != nil {
				return err
			}
		}
	}
	var curKey string
	var cur []history.Entry
	done := func() error {
		if cur == nil {
			return nil
		}
		if err := flush(curKey); err != nil {
			return err
		}
		es := cur
		if vi.key == curKey {
			es = append(es, vi.entries...)
			if err := vi.fill(ctx); err != nil {
				return err
			}
		}
		cur = nil
		return emit(es)
	}
	ok, err := merge(func(e history.Entry) error {
		if e.Key != curKey {
			if err := done(); err != nil {
				return err
			}
			curKey = e.Key
		}
		cur = append(cur, e)
		return nil
	})
	if err != nil || !ok {
		return ok, err
	}
	if err := done(); err != nil {
		return true, err
	}
	err = flush("")
	if stats != nil {
		stats.Requests.Add(vi.listings)
	}
	return true, err
}
