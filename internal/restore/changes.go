package restore

import (
	"context"
	"fmt"
	"time"

	"github.com/dynasnap/dynasnap/internal/filter"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/snapshot"
)

// ChangesOptions configure applying an incremental export.
type ChangesOptions struct {
	// Filter selects the changes applied (nil: all): those whose new or
	// old image matches, as diff selects them.
	Filter func(item.Item) (bool, error)
	Read   *progress.Counter
	// KeySchema, if set, is the table's key: every change's Keys must
	// name exactly its attributes.
	KeySchema *keyschema.Schema
}

// FromChanges applies an incremental export to w's table (docs/DESIGN.md
// §7): for each key, the newest change in the export by
// WriteTimestampMicros (the first of equal ones, in file order) is
// applied; its NewImage is put, and a change without one deletes the key.
// Applied to the table as it was at the window's start, this gives the
// table at its end. Two passes: the first finds each key's newest change
// (memory: one entry per changed key), the second writes.
func FromChanges(ctx context.Context, c *snapshot.Changes, w *Writer, opts ChangesOptions) (*Result, error) {
	start := time.Now()
	if opts.Read == nil {
		opts.Read = &progress.Counter{}
	}
	newest := map[string]int64{}
	for _, f := range c.Files {
		err := c.Each(ctx, f, func(ch snapshot.Change) error {
			k, err := keyOf(ch)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Store.URL(f.Data), err)
			}
			if opts.KeySchema != nil {
				if err := checkKeys(ch, *opts.KeySchema); err != nil {
					return fmt.Errorf("%s: %w", c.Store.URL(f.Data), err)
				}
			}
			if t, ok := newest[k]; !ok || ch.Micros > t {
				newest[k] = ch.Micros
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	res := &Result{Keys: int64(len(newest))}
	err := w.Run(ctx, func(ctx context.Context) error {
		b := w.NewBatcher()
		for _, f := range c.Files {
			err := c.Each(ctx, f, func(ch snapshot.Change) error {
				opts.Read.Add(1)
				k, _ := keyOf(ch)
				if t, ok := newest[k]; !ok || t != ch.Micros {
					return nil // an older change of the key, or one already applied
				}
				delete(newest, k)
				var newIt, oldIt item.Item
				var err error
				if ch.NewImage != nil {
					if newIt, err = item.Unmarshal(ch.NewImage); err != nil {
						return fmt.Errorf("%s: NewImage: %w", c.Store.URL(f.Data), err)
					}
				}
				if opts.Filter != nil {
					if ch.OldImage != nil {
						if oldIt, err = item.Unmarshal(ch.OldImage); err != nil {
							return fmt.Errorf("%s: OldImage: %w", c.Store.URL(f.Data), err)
						}
					}
					ok, err := filter.AnyMatches(opts.Filter, newIt, oldIt)
					if err != nil {
						return err
					}
					if !ok {
						res.Filtered++
						return nil
					}
				}
				if newIt != nil {
					return b.Put(ctx, newIt)
				}
				key, err := item.Unmarshal(ch.Keys)
				if err != nil {
					return fmt.Errorf("%s: Keys: %w", c.Store.URL(f.Data), err)
				}
				return b.Delete(ctx, key)
			})
			if err != nil {
				return err
			}
		}
		return b.Flush(ctx)
	})
	res.fill(w, start)
	return res, err
}

// keyOf is a change's key as canonical JSON (attribute names sorted).
func keyOf(ch snapshot.Change) (string, error) {
	k, err := item.Unmarshal(ch.Keys)
	if err != nil {
		return "", fmt.Errorf("Keys: %w", err)
	}
	b, err := item.Marshal(k)
	return string(b), err
}

// checkKeys refuses a change whose Keys are not the table's key.
func checkKeys(ch snapshot.Change, ks keyschema.Schema) error {
	k, err := item.Unmarshal(ch.Keys)
	if err != nil {
		return err
	}
	names := ks.Names()
	ok := len(k) == len(names)
	for _, n := range names {
		if _, has := k[n]; !has {
			ok = false
		}
	}
	if !ok {
		b, _ := item.Marshal(k)
		return fmt.Errorf("change Keys %s are not the table's key %s", b, ks)
	}
	return nil
}
