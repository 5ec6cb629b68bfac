package restore

import (
	"context"
	"fmt"
	"path"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/fastget"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/scan"
	"github.com/dynasnap/dynasnap/internal/versions"
)

// VersionsOptions configure a point-in-time restore straight from the
// backup's versions, with no snapshot in between.
type VersionsOptions struct {
	S3     *s3.Client
	Source layout.Location // the table's backup folder
	At     time.Time
	// Rewind touches only keys with a version or delete marker after At:
	// their image at At is put back, or they are deleted if they did not
	// exist then. Without it every key that existed at At is put.
	Rewind bool
	// Key restores this one item (its key attributes) only: its image at
	// At, or its deletion if it did not exist then.
	Key    item.Item
	Schema keyschema.Schema // the target table's key

	// Filter selects the keys written (nil: all). Into an empty table the
	// image at At must match. Into a live table (Rewind or Key) the key's
	// current item, read from Live, counts too: see scope.
	Filter func(item.Item) (bool, error)
	Live   GetAPI // the target table, for the current items; required with Filter and Rewind or Key

	Ranges          int   // key ranges listed; default 16
	ListConcurrency int   // default 16
	Fetchers        int   // GetObject in flight; default 128
	Shard, Shards   int   // restore only ranges i, i+n, ... (Shards 0: all)
	MaxKeys         int32 // list page size; 0: the server's

	Listed, Fetched *progress.Counter

	reader *fastget.Reader // set by FromVersions
}

// GetAPI reads one item of the target table.
type GetAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// MaxConflictKeys is how many conflicting keys a Result names.
const MaxConflictKeys = 100

// action is what one key needs.
type action struct {
	put    *scan.Entry // the version to put back
	delete *scan.Entry // a version to read the key from, then delete
	key    item.Item   // the key to delete, when known already
}

// decide applies the rules of a point-in-time restore to one key's entries.
func decide(entries []scan.Entry, at time.Time, rewind bool, single item.Item) (a action, touch bool) {
	if rewind && !versions.ChangedAfter(entries, at) {
		return a, false
	}
	if e, ok := versions.StateAt(entries, at); ok {
		return action{put: &e}, true
	}
	// The item did not exist at the time.
	if single != nil {
		return action{key: single}, true
	}
	if !rewind {
		return a, false
	}
	if e, ok := versions.LatestImage(entries); ok {
		return action{delete: &e}, true
	}
	return a, false // never had an image: nothing to delete
}

// FromVersions restores the table as it was at opts.At from the versions.
func FromVersions(ctx context.Context, w *Writer, opts VersionsOptions) (*Result, error) {
	start := time.Now()
	opts.reader = fastget.NewReader(opts.S3)
	defer opts.reader.Close()
	if opts.Ranges <= 0 {
		opts.Ranges = 16
	}
	if opts.ListConcurrency <= 0 {
		opts.ListConcurrency = 16
	}
	if opts.Fetchers <= 0 {
		opts.Fetchers = 128
	}
	for _, c := range []**progress.Counter{&opts.Listed, &opts.Fetched} {
		if *c == nil {
			*c = &progress.Counter{}
		}
	}
	live := opts.Rewind || opts.Key != nil
	if opts.Filter != nil && live && opts.Live == nil {
		return nil, fmt.Errorf("a filtered restore into a live table needs the table to read the current items from")
	}
	res := &Result{}
	var keys, unchanged atomic.Int64
	sc := &scoper{opts: opts, table: w.Table, live: live}
	err := w.Run(ctx, func(ctx context.Context) error {
		jobs := make(chan action, opts.Fetchers*2)
		g, ctx := errgroup.WithContext(ctx)
		for range opts.Fetchers {
			g.Go(func() error { return applyLoop(ctx, w.NewBatcher(), jobs, sc) })
		}
		g.Go(func() error {
			defer close(jobs)
			handle := func(entries []scan.Entry) error {
				keys.Add(1)
				a, touch := decide(entries, opts.At, opts.Rewind, opts.Key)
				if !touch {
					unchanged.Add(1)
					return nil
				}
				select {
				case jobs <- a:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if opts.Key != nil {
				ck, err := item.CanonicalKey(opts.Key)
				if err != nil {
					return fmt.Errorf("--key: %w", err)
				}
				objectKey := opts.Source.ObjectKey(item.ObjectID(ck))
				entries, err := versions.Key(ctx, opts.S3, opts.Source.Bucket, objectKey)
				if err != nil {
					return err
				}
				opts.Listed.Add(int64(len(entries)))
				if len(entries) == 0 {
					return fmt.Errorf("no versions of key %s in %s (object %s): check the key's attribute names and types match the table's key schema",
						ck, opts.Source, path.Base(objectKey))
				}
				return handle(entries)
			}
			l := &scan.Lister{Client: opts.S3, Bucket: opts.Source.Bucket, Dir: opts.Source.Dir(), MaxKeys: opts.MaxKeys}
			ranges := scan.Ranges(opts.Source.Dir(), opts.Ranges)
			if opts.Shards > 1 {
				var mine []scan.Range
				for _, r := range ranges {
					if r.Index%opts.Shards == opts.Shard {
						mine = append(mine, r)
					}
				}
				ranges = mine
			}
			return versions.Walk(ctx, l, ranges, opts.ListConcurrency, func(_ scan.Range, _ string, entries []scan.Entry) error {
				opts.Listed.Add(int64(len(entries)))
				return handle(entries)
			})
		})
		return g.Wait()
	})
	res.fill(w, start)
	res.Keys, res.Unchanged = keys.Load(), unchanged.Load()
	res.Filtered, res.Conflicts = sc.filtered.Load(), sc.conflicts.Load()
	sort.Strings(sc.conflictKeys)
	res.ConflictKeys = sc.conflictKeys
	return res, err
}

func applyLoop(ctx context.Context, b *Batcher, jobs <-chan action, sc *scoper) error {
	for a := range jobs {
		// image is what the key held at the time (nil: nothing, so delete).
		var image, key item.Item
		var err error
		switch {
		case a.put != nil:
			if image, err = fetchChecked(ctx, sc.opts, *a.put); err != nil {
				return err
			}
		case a.delete != nil:
			it, err := fetchChecked(ctx, sc.opts, *a.delete)
			if err != nil {
				return err
			}
			if key, err = sc.opts.Schema.Key(it); err != nil {
				return err
			}
		default:
			key = a.key
		}
		if sc.opts.Filter != nil {
			write, err := sc.scope(ctx, image, key)
			if err != nil {
				return err
			}
			if !write {
				continue
			}
		}
		if image != nil {
			err = b.Put(ctx, image)
		} else {
			err = b.Delete(ctx, key)
		}
		if err != nil {
			return err
		}
	}
	return b.Flush(ctx)
}

// scoper applies the filter to the keys of a restore from versions and
// counts what it leaves out; safe for concurrent use.
type scoper struct {
	opts                VersionsOptions
	table               string
	live                bool // the target is a live table (Rewind or Key)
	filtered, conflicts atomic.Int64
	mu                  sync.Mutex
	conflictKeys        []string
}

// scope reports whether a key is written. image is its state at the time
// (nil: absent), key its key when image is nil.
//
// Into an empty table only the image matters. Into a live table a changed
// key is in scope when its image at the time or its current item matches:
// so an item the selection gained after the time is deleted, and one it
// lost is put back. When one of the two matches and the other exists but
// does not (the item moved into or out of the selection, e.g. to another
// tenant), writing either way would change an item outside the selection:
// the key is a conflict, left alone and reported.
func (s *scoper) scope(ctx context.Context, image, key item.Item) (bool, error) {
	states := []item.Item{image}
	if s.live {
		if image != nil {
			var err error
			if key, err = s.opts.Schema.Key(image); err != nil {
				return false, err
			}
		}
		out, err := s.opts.Live.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return false, fmt.Errorf("read the current item of key %s from table %s: %w", keyString(key, s.opts.Schema), s.table, err)
		}
		states = append(states, out.Item)
	}
	var matched, other bool
	for _, it := range states {
		if len(it) == 0 {
			continue
		}
		ok, err := s.opts.Filter(it)
		if err != nil {
			return false, err
		}
		matched, other = matched || ok, other || !ok
	}
	switch {
	case matched && other:
		s.conflicts.Add(1)
		s.mu.Lock()
		if len(s.conflictKeys) < MaxConflictKeys {
			s.conflictKeys = append(s.conflictKeys, keyString(key, s.opts.Schema))
		}
		s.mu.Unlock()
		return false, nil
	case !matched:
		s.filtered.Add(1)
		return false, nil
	}
	return true, nil
}

// keyString is a key as compact DynamoDB JSON, for messages.
func keyString(key item.Item, ks keyschema.Schema) string {
	b, err := item.CanonicalKey(key, ks.Names()...)
	if err != nil {
		return fmt.Sprint(key)
	}
	return string(b)
}

// fetchChecked gets a version and makes sure the table's key names the same
// object: a restore into a table keyed differently from the backup would
// otherwise merge or split items silently.
func fetchChecked(ctx context.Context, opts VersionsOptions, e scan.Entry) (item.Item, error) {
	it, err := versions.Fetch(ctx, opts.reader, opts.Source.Bucket, e)
	if err != nil {
		return nil, err
	}
	opts.Fetched.Add(1)
	id, err := opts.Schema.KeyID(it)
	if err != nil {
		return nil, fmt.Errorf("s3://%s/%s version %s does not fit table key %s: %w", opts.Source.Bucket, e.Key, e.VersionID, opts.Schema, err)
	}
	if id != path.Base(e.Key) {
		return nil, fmt.Errorf("s3://%s/%s: the table's key %s does not give this object's id; the backup was written for a table with another key (wrong --table or --source?)",
			opts.Source.Bucket, e.Key, opts.Schema)
	}
	return it, nil
}
