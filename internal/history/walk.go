package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/progress"
)

// Plan is which part of a table a walk reads, and how hard.
type Plan struct {
	Ranges          int   // 1..MaxRanges; 0 means AutoRanges
	Shard, Shards   int   // one contiguous block of the ranges (Shards <= 1: all)
	ListConcurrency int   // prefixes listed at once; 0 means DefaultListConcurrency
	PageSize        int32 // entries per listing request; 0 means the server's (MaxPageSize)
	// Newer asks a journal read for the changes after the latest of the
	// walk's times too (a rewind decides by them); a versioned listing
	// always has them.
	Newer bool
	// Recent keeps each key's entries newer than the walk's first time in
	// Key.Recent (audit compares an item with every state of a window).
	Recent bool
}

// MaxPageSize is the most entries a ListObjectVersions page holds, and
// what a server returns when not asked for fewer.
const MaxPageSize = 1000

// DefaultListConcurrency is how many prefixes a walk lists at once.
const DefaultListConcurrency = 64

// Interval is the key interval, as object id bounds, that the plan covers.
func (p Plan) Interval() (lo, hi string, err error) {
	n := p.ranges()
	if n < 1 || n > MaxRanges {
		return "", "", fmt.Errorf("%d key ranges: want 1 to %d", n, MaxRanges)
	}
	if p.Shards > 1 && (p.Shard < 0 || p.Shard >= p.Shards) {
		return "", "", fmt.Errorf("shard %d/%d: the index must be 0..%d", p.Shard, p.Shards, p.Shards-1)
	}
	a, b := ShardRanges(n, p.Shard, p.Shards)
	if a >= b {
		return "", "", errEmptyShard
	}
	return rangeBound(n, a), rangeBound(n, b), nil
}

var errEmptyShard = errors.New("empty shard")

func (p Plan) ranges() int {
	if p.Ranges <= 0 {
		return AutoRanges
	}
	return p.Ranges
}

// Keys lists the plan's part of the table folder dir ("prefix/table/") and
// calls fn for each object key, in key order, folded at times.
func Keys(ctx context.Context, src Source, dir string, plan Plan, times []time.Time, stats *Stats, fn func(*Key) error) error {
	return keys(ctx, src, dir, plan, times, stats, nil, nil, fn)
}

// keys is Keys, listing more prefixes at once only as hungry says fn's
// consumer lacks work (nil: whenever the listing falls behind); a send on
// wake says to ask hungry again.
func keys(ctx context.Context, src Source, dir string, plan Plan, times []time.Time, stats *Stats, hungry func() need, wake <-chan struct{}, fn func(*Key) error) error {
	lo, hi, err := plan.Interval()
	if errors.Is(err, errEmptyShard) {
		return nil // more shards than ranges: this one has nothing
	}
	if err != nil {
		return err
	}
	if stats == nil {
		stats = &Stats{}
	}
	limit := plan.ListConcurrency
	if limit <= 0 {
		limit = DefaultListConcurrency
	}
	l := &lister{src: src, dir: dir, depth: Digits(plan.ranges()), pageSize: plan.PageSize, stats: stats, hungry: hungry, wake: wake,
		room: min(startListings, limit), limit: limit}
	f := &folder{times: times, emit: fn, recent: plan.Recent}
	if m, isMerger := src.(Merger); isMerger {
		mt := times
		if plan.Newer && len(times) > 0 {
			mt = append(slices.Clone(times), UpToNow)
		}
		ok, err := m.Merge(ctx, dir, lo, hi, mt, stats, func(e Entry) error {
			stats.Versions.Add(1)
			return f.add(e)
		})
		if err != nil {
			return err
		}
		if ok {
			return f.flush()
		}
	}
	if err := l.walk(ctx, cover(lo, hi), f.add); err != nil {
		return err
	}
	return f.flush()
}

// Walk reads the state of a table's keys in key order: it lists and folds
// them (Keys), asks Pick which versions of each to read, reads those with
// Fetchers in flight, and hands each key to Emit in key order. It is the
// one pipeline of snapshot, restore --source and diff.
type Walk[T any] struct {
	Source Source
	Dir    string
	Plan   Plan
	Times  []time.Time
	// Fetchers is how many reads are in flight; 0 means 128.
	Fetchers int
	// Canonical asks for each version's canonical compact JSON. A body
	// that already is that JSON is taken as it is, not decoded (Item nil),
	// unless WithItem asks for the item too (a Keep that reads it).
	Canonical, WithItem bool
	// Validate checks every version read as an item DynamoDB would
	// accept under its own object's key (itemCheck); one that is not is
	// a bad object. It decodes every body.
	Validate bool
	check    itemCheck
	// SkipBad drops a key whose version is not a readable item, listing
	// it in the result, instead of stopping the walk.
	SkipBad bool
	// Pick runs in listing order: the versions of k to read, a value for
	// Emit, and whether k goes on at all.
	Pick func(k *Key) (read []Entry, tag T, ok bool, err error)
	// Keep, if set, runs after the reads, concurrently: false drops k.
	Keep func(ctx context.Context, k *Key, tag T, got []Version) (bool, error)
	// Emit gets the kept keys in key order.
	Emit func(ctx context.Context, k *Key, tag T, got []Version) error

	Stats           *Stats
	Listed, Fetched *progress.Counter
}

// WalkResult is what a walk saw besides what it emitted.
type WalkResult struct {
	Keys       int64
	Dropped    int64 // keys Keep dropped
	BadObjects []BadObject
	// Oldest is the earliest LastModified listed.
	Oldest time.Time
}

type walkTask[T any] struct {
	key  *Key
	tag  T
	read []Entry
	got  []Version
	skip bool
	err  error
}

// walkBatch is the unit the walk hands between its goroutines: one key
// that needs a GET, or up to memBatch keys whose versions are all in
// memory (a journal's entries carry their bodies). A handoff per key
// costs more than decoding a small item, so in-memory keys travel in
// batches; keys that wait for S3 travel alone, as many in flight as
// there are fetchers.
type walkBatch[T any] struct {
	tasks []*walkTask[T]
	mem   bool // in-memory keys, the first with a read (it holds a memory slot)
	reads bool // some task reads a version
	done  chan struct{}
}

// memBatch is how many in-memory keys a batch holds, and memAhead how
// many such batches are between listing and emitting at once: enough to
// keep every core busy, few enough that memory holds a few thousand keys.
const (
	memBatch = 64
	memAhead = 8
)

// inMemory reports whether every entry's body is at hand (no GET).
func inMemory(read []Entry) bool {
	for _, e := range read {
		if e.Body == nil {
			return false
		}
	}
	return true
}

// Run walks; it stops at the first error, and at once when ctx ends.
func (w *Walk[T]) Run(ctx context.Context) (*WalkResult, error) {
	fetchers := w.Fetchers
	if fetchers <= 0 {
		fetchers = 128
	}
	if w.Stats == nil {
		w.Stats = &Stats{}
	}
	for _, c := range []**progress.Counter{&w.Listed, &w.Fetched} {
		if *c == nil {
			*c = &progress.Counter{}
		}
	}
	res := &WalkResult{}
	var dropped atomic.Int64
	var badMu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	fetchQ := make(chan *walkBatch[T], fetchers)
	// The window of keys between listing and emitting: all fetchers stay
	// busy, and memory holds at most this many keys' versions.
	pending := make(chan *walkBatch[T], fetchers*2)
	// In-memory batches between listing and emitting.
	memSlots := make(chan struct{}, memAhead)
	for range fetchers {
		g.Go(func() error {
			var buf bytes.Buffer
			for b := range fetchQ {
				err := w.fetchBatch(gctx, b, &buf, res, &badMu, &dropped)
				close(b.done)
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	// The keys between listing and emitting are the fetchers' work: short
	// when fewer than the fetchers, out when none. The emitter says when
	// that may have changed.
	hungry := func() need {
		switch n := len(pending); {
		case n == 0:
			return idle
		case n < fetchers:
			return short
		}
		return fed
	}
	wake := make(chan struct{}, 1)
	g.Go(func() error {
		for b := range pending {
			if hungry() != fed {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
			select {
			case <-b.done:
			case <-gctx.Done():
				return gctx.Err()
			}
			for _, t := range b.tasks {
				if t.err != nil {
					return t.err
				}
				if t.skip {
					continue
				}
				if err := w.Emit(gctx, t.key, t.tag, t.got); err != nil {
					return err
				}
				t.got = nil
			}
			if b.mem {
				<-memSlots
			}
		}
		return nil
	})
	g.Go(func() error {
		defer close(fetchQ)
		defer close(pending)
		var cur *walkBatch[T] // in-memory keys not yet handed over
		send := func(b *walkBatch[T]) error {
			if b.mem {
				select {
				case memSlots <- struct{}{}:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			if !b.reads {
				close(b.done)
			}
			select {
			case pending <- b:
			case <-gctx.Done():
				return gctx.Err()
			}
			if !b.reads {
				return nil
			}
			select {
			case fetchQ <- b:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		flush := func() error {
			if cur == nil {
				return nil
			}
			b := cur
			cur = nil
			return send(b)
		}
		err := keys(gctx, w.Source, w.Dir, w.Plan, w.Times, w.Stats, hungry, wake, func(k *Key) error {
			res.Keys++
			w.Listed.Add(int64(k.Versions))
			if o := k.oldest; !o.IsZero() && (res.Oldest.IsZero() || o.Before(res.Oldest)) {
				res.Oldest = o
			}
			read, tag, ok, err := w.Pick(k)
			if err != nil || !ok {
				return err
			}
			t := &walkTask[T]{key: k, tag: tag, read: read}
			if len(read) == 0 && w.Keep != nil {
				keep, err := w.Keep(gctx, k, tag, nil)
				if err != nil {
					return err
				}
				if !keep {
					dropped.Add(1)
					return nil
				}
			}
			// A key with no read joins a batch under way, but starts none:
			// a walk of such keys between GETs (an incremental snapshot's
			// reused items) hands them over one by one as before, so its
			// GETs stay in flight.
			if !inMemory(read) || (len(read) == 0 && cur == nil) {
				// In order: the in-memory keys before it go first.
				if err := flush(); err != nil {
					return err
				}
				return send(&walkBatch[T]{tasks: []*walkTask[T]{t}, reads: len(read) > 0, done: make(chan struct{})})
			}
			if cur == nil {
				cur = &walkBatch[T]{tasks: make([]*walkTask[T], 0, memBatch), mem: true, reads: true, done: make(chan struct{})}
			}
			cur.tasks = append(cur.tasks, t)
			if len(cur.tasks) == memBatch {
				return flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
		return flush()
	})
	err := g.Wait()
	res.Dropped = dropped.Load()
	return res, err
}

// fetchBatch reads the versions of b's keys and runs Keep on them, in
// order; it stops at the first error, which it leaves in that key's task.
func (w *Walk[T]) fetchBatch(ctx context.Context, b *walkBatch[T], buf *bytes.Buffer, res *WalkResult, badMu *sync.Mutex, dropped *atomic.Int64) error {
	for _, t := range b.tasks {
		if len(t.read) == 0 {
			continue // Keep ran when it was listed
		}
		t.err = w.fetch(ctx, t, buf)
		if errors.Is(t.err, ErrBadObject) && w.SkipBad {
			badMu.Lock()
			res.BadObjects = append(res.BadObjects, BadObject{Key: t.key.ObjectKey, VersionID: t.read[0].VersionID, Reason: t.err.Error()})
			badMu.Unlock()
			t.err, t.skip = nil, true
		}
		if t.err == nil && !t.skip && w.Keep != nil {
			var keep bool
			keep, t.err = w.Keep(ctx, t.key, t.tag, t.got)
			if t.err == nil && !keep {
				t.skip = true
				dropped.Add(1)
			}
		}
		if t.err != nil {
			return t.err
		}
	}
	return nil
}

func (w *Walk[T]) fetch(ctx context.Context, t *walkTask[T], buf *bytes.Buffer) error {
	t.got = make([]Version, len(t.read))
	for i, e := range t.read {
		// A body in memory (a journal's) is read as it is: nothing
		// writes to it, so it needs no copy.
		body, err := readBody(ctx, w.Source, e, buf)
		if err != nil {
			return err
		}
		v := Version{Entry: e}
		n, copied := int64(0), false
		switch {
		case w.Canonical && !w.WithItem && !w.Validate:
			n, copied = item.CanonicalSize(body)
		case w.Canonical && !w.WithItem:
			n, copied = w.check.canonical(e, body)
		}
		if copied {
			if err := checkSize(w.Source, e, n); err != nil {
				return err
			}
			v.JSON, v.ItemSize = body, n
			if e.Body == nil {
				v.JSON = bytes.Clone(body)
			}
		} else {
			var err error
			if v.Item, v.ItemSize, err = decodeBody(w.Source, e, body); err != nil {
				return err
			}
			if w.Validate {
				if err := w.check.check(w.Source, e, v.Item); err != nil {
					return err
				}
			}
			if w.Canonical {
				if _, canonical := item.CanonicalSize(body); canonical && w.Validate {
					v.JSON = bytes.Clone(body) // as it is: already the canonical JSON
				} else if v.JSON, err = item.Marshal(v.Item); err != nil {
					return err
				}
			}
		}
		t.got[i] = v
		if e.Body == nil { // a journal's entries carry theirs: no GET
			w.Fetched.Add(1)
		}
	}
	return nil
}
