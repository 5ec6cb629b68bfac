package restore

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
)

// VersionsOptions configure a point-in-time restore straight from the
// backup's versions, with no snapshot in between.
type VersionsOptions struct {
	Source layout.Location // the table's backup folder
	At     time.Time
	// ClockSkew: the listing waits until At's second is over by this much
	// (docs/DESIGN.md §3); 0 means history.DefaultClockSkew, negative none.
	ClockSkew time.Duration
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
	// Expired, if set, leaves out keys whose image at At has a TTL time
	// already passed (plain restores only; not with Rewind or Key).
	Expired *Expiry
	// IncludeExpired lets Rewind put back an item that TTL deleted after
	// At (docs/DESIGN.md §2.4); without it such a key is deleted, or left
	// alone when the TTL delete is its last change.
	IncludeExpired bool

	Plan     history.Plan // ranges, shard, list concurrency, page size
	Fetchers int          // GetObject in flight; default 128

	Listed, Fetched *progress.Counter
}

// GetAPI reads one item of the target table.
type GetAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// MaxConflictKeys is how many conflicting keys a Result names.
const MaxConflictKeys = 100

// action is what one key needs: put its image back, or delete it.
type action struct {
	put    *history.Entry // the version to put back
	delete *history.Entry // a version to read the key from, then delete
	// ttl: with put, the deletes after the time, any of which TTL may have
	// made; ttlLast: the newest entry is one of them.
	ttl     []history.Delete
	ttlLast bool
	// Settled once the versions are read: the image to put (nil: delete
	// key), and whether the filter lets the key be written.
	image, key item.Item
	write      bool
}

// decide applies the rules of a point-in-time restore to one folded key;
// ttl: a rewind does not put back what TTL deleted after the time.
func decide(k *history.Key, rewind bool, single item.Item, ttl bool) (a *action, touch bool) {
	if rewind && !k.Changed() {
		return nil, false
	}
	if k.Exists[0] {
		e := k.At[0]
		a := &action{put: &e}
		if rewind && ttl {
			a.ttl = k.DeletesIn(0, k.Pos[0])
			a.ttlLast = len(a.ttl) > 0 && a.ttl[0].Pos == 0
		}
		return a, true
	}
	// The item did not exist at the time.
	if single != nil {
		return &action{key: single}, true
	}
	if !rewind {
		return nil, false
	}
	if k.HasImage {
		e := k.Newest
		return &action{delete: &e}, true
	}
	return nil, false // never had an image: nothing to delete
}

func (a *action) reads() []history.Entry {
	switch {
	case a.put != nil:
		return []history.Entry{*a.put}
	case a.delete != nil:
		return []history.Entry{*a.delete}
	}
	return nil
}

// FromVersions restores the table as it was at opts.At from the versions
// in src.
func FromVersions(ctx context.Context, src history.Source, w *Writer, opts VersionsOptions) (*Result, error) {
	start := time.Now()
	for _, c := range []**progress.Counter{&opts.Listed, &opts.Fetched} {
		if *c == nil {
			*c = &progress.Counter{}
		}
	}
	live := opts.Rewind || opts.Key != nil
	if opts.Filter != nil && live && opts.Live == nil {
		return nil, fmt.Errorf("a filtered restore into a live table needs the table to read the current items from")
	}
	if err := history.Wait(ctx, opts.At, opts.ClockSkew); err != nil {
		return nil, err
	}
	res := &Result{}
	var keys, unchanged atomic.Int64
	sc := &scoper{opts: opts, src: src, table: w.Table, live: live}
	err := w.Run(ctx, func(ctx context.Context) error {
		b := w.NewBatcher()
		if opts.Key != nil {
			keys.Add(1)
			if err := restoreKey(ctx, src, b, sc, opts); err != nil {
				return err
			}
			return b.Flush(ctx)
		}
		plan := opts.Plan
		plan.Newer = opts.Rewind // it touches only the keys changed since
		walk := &history.Walk[*action]{Source: src, Dir: opts.Source.Dir(), Plan: plan, Validate: true, Times: []time.Time{opts.At},
			Fetchers: opts.Fetchers, Listed: opts.Listed, Fetched: opts.Fetched,
			Pick: func(k *history.Key) ([]history.Entry, *action, bool, error) {
				keys.Add(1)
				a, touch := decide(k, opts.Rewind, nil, !opts.IncludeExpired)
				if !touch {
					unchanged.Add(1)
					return nil, nil, false, nil
				}
				return a.reads(), a, true, nil
			},
			// Checking and scoping run beside the reads, many at once.
			Keep: func(ctx context.Context, _ *history.Key, a *action, got []history.Version) (bool, error) {
				if err := sc.resolve(ctx, a, got); err != nil {
					return false, err
				}
				return a.write, nil
			},
			Emit: func(ctx context.Context, _ *history.Key, a *action, _ []history.Version) error {
				return put(ctx, b, a)
			}}
		if _, err := walk.Run(ctx); err != nil {
			return err
		}
		return b.Flush(ctx)
	})
	res.fill(w, start)
	res.Keys, res.Unchanged = keys.Load(), unchanged.Load()
	res.Filtered, res.Conflicts, res.Expired = sc.filtered.Load(), sc.conflicts.Load(), sc.expired.Load()
	sort.Strings(sc.conflictKeys)
	res.ConflictKeys = sc.conflictKeys
	return res, err
}

// restoreKey restores the one item of opts.Key.
func restoreKey(ctx context.Context, src history.Source, b *Batcher, sc *scoper, opts VersionsOptions) error {
	ck, err := item.CanonicalKey(opts.Key)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	objectKey := opts.Source.ObjectKey(item.ObjectID(ck))
	var times []time.Time
	if !opts.Rewind {
		times = []time.Time{opts.At} // the state at At needs no later change
	}
	entries, err := history.KeyVersionsAt(ctx, src, objectKey, times)
	if err != nil {
		return err
	}
	opts.Listed.Add(int64(len(entries)))
	if len(entries) == 0 {
		return fmt.Errorf("no versions of key %s in %s (object %s): check the key's attribute names and types match the table's key schema",
			ck, opts.Source, path.Base(objectKey))
	}
	a, _ := decide(history.Fold(entries, []time.Time{opts.At}), opts.Rewind, opts.Key, false)
	var got []history.Version
	for _, e := range a.reads() {
		var buf bytes.Buffer
		it, err := history.ReadItem(ctx, src, e, &buf)
		if err != nil {
			return err
		}
		opts.Fetched.Add(1)
		got = append(got, history.Version{Entry: e, Item: it})
	}
	if err := sc.resolve(ctx, a, got); err != nil || !a.write {
		return err
	}
	return put(ctx, b, a)
}

func put(ctx context.Context, b *Batcher, a *action) error {
	if a.image != nil {
		return b.Put(ctx, a.image)
	}
	return b.Delete(ctx, a.key)
}

// resolve checks the versions read for a key, settles the image to put or
// the key to delete, and whether the filter lets it be written.
func (s *scoper) resolve(ctx context.Context, a *action, got []history.Version) error {
	switch {
	case a.put != nil:
		if err := s.check(got[0]); err != nil {
			return err
		}
		a.image = got[0].Item
		if !s.live && s.opts.Expired.Item(a.image) {
			s.expired.Add(1)
			return nil
		}
		if len(a.ttl) > 0 {
			if err := history.ResolveExpired(ctx, s.src, a.ttl); err != nil {
				return err
			}
			if history.AnyExpired(a.ttl) {
				// TTL deleted it after the time: not put back. Gone since:
				// nothing to write; written again since: deleted.
				if a.ttlLast {
					if f := s.opts.Filter; f != nil {
						if ok, err := f(a.image); err != nil || !ok {
							if err == nil {
								s.filtered.Add(1)
							}
							return err
						}
					}
					s.expired.Add(1)
					return nil
				}
				s.expired.Add(1)
				k, err := s.opts.Schema.Key(a.image)
				if err != nil {
					return err
				}
				a.image, a.key = nil, k
			}
		}
	case a.delete != nil:
		if err := s.check(got[0]); err != nil {
			return err
		}
		k, err := s.opts.Schema.Key(got[0].Item)
		if err != nil {
			return err
		}
		a.key = k
	}
	a.write = true
	if s.opts.Filter != nil {
		var err error
		a.write, err = s.scope(ctx, a.image, a.key)
		return err
	}
	return nil
}

// scoper applies the filter to the keys of a restore from versions and
// counts what it leaves out; safe for concurrent use.
type scoper struct {
	opts                VersionsOptions
	src                 history.Source
	table               string
	live                bool // the target is a live table (Rewind or Key)
	filtered, conflicts atomic.Int64
	expired             atomic.Int64
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

// check makes sure the table's key names the same object as the version:
// a restore into a table keyed differently from the backup would
// otherwise merge or split items silently.
func (s *scoper) check(v history.Version) error {
	id, err := s.opts.Schema.KeyID(v.Item)
	if err != nil {
		return fmt.Errorf("s3://%s/%s version %s does not fit table key %s: %w", s.src.Bucket(), v.Key, v.VersionID, s.opts.Schema, err)
	}
	if id != path.Base(v.Key) {
		return fmt.Errorf("s3://%s/%s: the table's key %s does not give this object's id; the backup was written for a table with another key (wrong --table or --source?)",
			s.src.Bucket(), v.Key, s.opts.Schema)
	}
	return nil
}
