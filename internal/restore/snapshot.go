package restore

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// SnapshotOptions configure a restore from a snapshot.
type SnapshotOptions struct {
	Readers    int         // data files read at once; default 4
	Checkpoint *Checkpoint // optional
	// Filter selects the items written (nil: all). Items are decoded only
	// when it is set, so an unfiltered restore keeps sending them raw.
	Filter func(item.Item) (bool, error)
	// Expired, if set, leaves out items whose TTL time has passed
	// (counted in Result.Expired).
	Expired *Expiry
	Read    *progress.Counter
}

// Result is what a restore did.
type Result struct {
	Puts, Deletes int64
	// SkippedFiles and SkippedItems were finished by an earlier run.
	SkippedFiles int
	SkippedItems int64
	// For a restore from versions: keys listed, and keys left alone
	// because they did not change after the time (--rewind).
	Keys, Unchanged int64
	// Filtered counts what a filter left out: snapshot items, or keys of a
	// restore from versions.
	Filtered int64
	// Conflicts are keys of a filtered restore into a live table (--rewind,
	// --key) whose image at the time and current item disagree on the
	// filter: left alone, never written. ConflictKeys names up to
	// MaxConflictKeys of them (canonical key JSON, sorted).
	Conflicts    int64
	ConflictKeys []string
	// Expired counts items (or keys) left out because their TTL time had
	// passed: DynamoDB would delete them again.
	Expired int64
	// Undo is what restore --undo did (nil for every other restore).
	Undo        *UndoResult
	Elapsed     time.Duration
	Requests    int64
	Unprocessed int64
	Throttled   int64
	Backoffs    int64
	BackoffTime time.Duration
}

func (r *Result) fill(w *Writer, start time.Time) {
	r.Puts, r.Deletes = w.Stats.Puts.Load(), w.Stats.Deletes.Load()
	r.Requests, r.Unprocessed, r.Throttled = w.Stats.Requests.Load(), w.Stats.Unprocessed.Load(), w.Stats.Throttled.Load()
	r.Backoffs, r.BackoffTime = w.Stats.Backoffs.Load(), time.Duration(w.Stats.BackoffTime.Load())
	r.Elapsed = time.Since(start)
}

// CheckFormat refuses snapshots this restore cannot read: JSON lines and
// Parquet (whose item column holds each item whole) are both read through
// the snapshot reader.
func CheckFormat(s *snapshot.Snapshot) error {
	if f := s.Summary.OutputFormat; f != "" && f != "DYNAMODB_JSON" && f != "PARQUET" {
		return fmt.Errorf("snapshot %s is %s; restore reads DYNAMODB_JSON and PARQUET snapshots", s.Store.URL(""), f)
	}
	return nil
}

var errStop = errors.New("stop")

// FirstItem returns the snapshot's first item and the object key it was
// backed up under ("" when the snapshot has no sidecar, as AWS exports).
func FirstItem(ctx context.Context, s *snapshot.Snapshot) (item.Item, string, error) {
	for _, f := range s.Files {
		if f.ItemCount == 0 {
			continue
		}
		var it item.Item
		var key string
		err := s.Each(ctx, f, func(l snapshot.Line) error {
			var err error
			if it, err = item.Unmarshal(l.Item); err != nil {
				return fmt.Errorf("%s: %w", s.Store.URL(f.Data), err)
			}
			key = l.Source.Key
			return errStop
		})
		if err != nil && !errors.Is(err, errStop) {
			return nil, "", err
		}
		return it, key, nil
	}
	return nil, "", nil
}

// CheckKeySchema makes sure the table's key is the key the snapshot's items
// were backed up under, so a restore into the wrong table fails before
// writing anything. Without a sidecar it checks the key attributes exist.
func CheckKeySchema(ctx context.Context, s *snapshot.Snapshot, ks keyschema.Schema) error {
	it, objectKey, err := FirstItem(ctx, s)
	if err != nil || it == nil {
		return err
	}
	id, err := ks.KeyID(it)
	if err != nil {
		return fmt.Errorf("the snapshot's items do not fit the table's key: %w", err)
	}
	if objectKey != "" && id != path.Base(objectKey) {
		hint := ""
		if attrs, _, err := keyschema.Infer(it, objectKey); err == nil {
			var names []string
			for _, a := range attrs {
				names = append(names, a.Name)
			}
			hint = fmt.Sprintf(" (the snapshot's items are keyed by %s)", strings.Join(names, ", "))
		}
		return fmt.Errorf("the table's key %s is not the key the snapshot's items were backed up under%s: wrong table?", ks, hint)
	}
	return nil
}

// InferKeySchema works out the key schema from the snapshot's first item
// and its object key. With two key attributes it cannot tell which is the
// partition key: then hashKey must name it.
func InferKeySchema(ctx context.Context, s *snapshot.Snapshot, hashKey string) (keyschema.Schema, error) {
	it, objectKey, err := FirstItem(ctx, s)
	if err != nil {
		return keyschema.Schema{}, err
	}
	if it == nil {
		return keyschema.Schema{}, fmt.Errorf("the snapshot is empty, so its key schema cannot be inferred; pass --key-schema")
	}
	if objectKey == "" {
		return keyschema.Schema{}, fmt.Errorf("the snapshot has no sidecar (an AWS export?), so its key schema cannot be inferred; pass --key-schema")
	}
	return FromInferred(it, objectKey, hashKey)
}

// FromInferred turns keyschema.Infer's answer into a schema.
func FromInferred(it item.Item, objectKey, hashKey string) (keyschema.Schema, error) {
	attrs, ambiguous, err := keyschema.Infer(it, objectKey)
	if err != nil {
		return keyschema.Schema{}, err
	}
	if !ambiguous {
		return keyschema.Schema{Hash: attrs[0]}, nil
	}
	switch hashKey {
	case attrs[0].Name:
		return keyschema.Schema{Hash: attrs[0], Range: attrs[1]}, nil
	case attrs[1].Name:
		return keyschema.Schema{Hash: attrs[1], Range: attrs[0]}, nil
	}
	return keyschema.Schema{}, fmt.Errorf("the items are keyed by %s and %s, and a backup does not record which is the partition key: pass --key-schema %s:%s,%s:%s (or the other way round)",
		attrs[0].Name, attrs[1].Name, attrs[0].Name, attrs[0].Type, attrs[1].Name, attrs[1].Type)
}

// FromSnapshot writes every item of the snapshot into w's table, Readers
// data files at a time, and checkpoints each file once all its items are
// written.
func FromSnapshot(ctx context.Context, s *snapshot.Snapshot, w *Writer, opts SnapshotOptions) (*Result, error) {
	start := time.Now()
	if err := CheckFormat(s); err != nil {
		return nil, err
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if opts.Read == nil {
		opts.Read = &progress.Counter{}
	}
	res := &Result{}
	var filtered, expired atomic.Int64
	var todo []snapshot.FileEntry
	for _, f := range s.Files {
		if opts.Checkpoint != nil && opts.Checkpoint.Done(f.Data) {
			res.SkippedFiles++
			res.SkippedItems += f.ItemCount
			continue
		}
		todo = append(todo, f)
	}
	if opts.Checkpoint != nil {
		if err := opts.Checkpoint.Save(); err != nil {
			return nil, err
		}
	}
	err := w.Run(ctx, func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		g.SetLimit(opts.Readers)
		for _, f := range todo {
			g.Go(func() error {
				b := w.NewBatcher()
				// Checked whole before its first item is sent: nothing of
				// a tampered or truncated file is written.
				err := s.EachChecked(ctx, f, checkItem, func(l snapshot.Line) error {
					opts.Read.Add(1)
					if opts.Filter != nil {
						ok, err := matchRaw(opts.Filter, l.Item)
						if err != nil {
							return fmt.Errorf("%s: %w", s.Store.URL(f.Data), err)
						}
						if !ok {
							filtered.Add(1)
							return nil
						}
					}
					if gone, err := opts.Expired.Raw(l.Item); err != nil {
						return fmt.Errorf("%s: %w", s.Store.URL(f.Data), err)
					} else if gone {
						expired.Add(1)
						return nil
					}
					if err := b.PutRaw(ctx, l.Item); err != nil {
						return fmt.Errorf("%s: %w", s.Store.URL(f.Data), err)
					}
					return nil
				})
				if err != nil {
					return err
				}
				if err := b.Flush(ctx); err != nil {
					return err
				}
				if opts.Checkpoint != nil {
					return opts.Checkpoint.MarkDone(f.Data, f.ItemCount)
				}
				return nil
			})
		}
		return g.Wait()
	})
	res.fill(w, start)
	res.Filtered, res.Expired = filtered.Load(), expired.Load()
	return res, err
}

// checkItem refuses a line that is not a DynamoDB item, before any item of
// its file is written.
func checkItem(l snapshot.Line) error {
	_, err := item.Unmarshal(l.Item)
	return err
}

// matchRaw decodes a snapshot item just to apply the filter; the raw JSON
// is what gets written.
func matchRaw(match func(item.Item) (bool, error), raw []byte) (bool, error) {
	it, err := item.Unmarshal(raw)
	if err != nil {
		return false, err
	}
	return match(it)
}

// Expiry is tabledef.Expiry: which items' TTL time has passed.
type Expiry = tabledef.Expiry

// NewExpiry is tabledef.NewExpiry.
func NewExpiry(attr string, now time.Time) *Expiry { return tabledef.NewExpiry(attr, now) }
