package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/filter"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/itemcmp"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/retry"
)

// Undo is restore --undo (docs/DESIGN.md §7): every key changed in the
// window [From, To) gets back its state just before From, unless it
// changed again at or after To, or its live item is no longer the state at
// the end of the window (a conflict: left alone and listed).
type Undo struct {
	From, To time.Time
	// DryRun lists what would be written and what conflicts; nothing is.
	DryRun bool
	// IncludeExpired undoes TTL deletes in the window too.
	IncludeExpired bool
}

// CondAPI is the conditional single-item writes of an undo.
type CondAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// UndoAPI is what an undo calls on the table.
type UndoAPI interface {
	GetAPI
	CondAPI
}

// The actions of an undo's listed keys.
const (
	UndoRestore  = "restore"  // put back its state before the window
	UndoDelete   = "delete"   // deleted: it did not exist before the window
	UndoConflict = "conflict" // left alone
	UndoExpired  = "expired"  // a TTL delete in the window, not undone
)

// MaxUndoListed is how many keys an undo's result lists (the counts are
// exact).
const MaxUndoListed = 1000

// UndoKey is one key an undo lists: conflicts and TTL deletes, and with
// DryRun the writes it would make. The states are DynamoDB JSON, null when
// the item is absent.
type UndoKey struct {
	Key    json.RawMessage `json:"key"`
	Action string          `json:"action"`
	Reason string          `json:"reason,omitempty"`
	Before json.RawMessage `json:"before"`
	End    json.RawMessage `json:"endOfWindow"`
	Now    json.RawMessage `json:"now"`
}

// UndoResult is what an undo did, besides Result's counts: Restored and
// Deleted are the keys written (with DryRun: that would be).
type UndoResult struct {
	Restored, Deleted, Conflicts, Expired int64
	// Listed names up to MaxUndoListed keys, sorted by key.
	Listed []UndoKey
}

// undoOptions is an undo's part of a restore from versions.
type undoOptions struct {
	Undo
	VersionsOptions
	API              UndoAPI
	Table            string
	MaxWCU           float64
	Written, Deleted *progress.Counter
}

// undoKey is what Pick learned of a key.
type undoKey struct {
	before, end bool // the item existed just before From, just before To
	after       bool // entries at or after To
	// ttl are the window's deletes, any of which TTL may have made.
	ttl []history.Delete
}

type undoer struct {
	opts     undoOptions
	src      history.Source
	limiter  *retry.Limiter
	res      UndoResult
	requests atomic.Int64
	throttle atomic.Int64
	unchanged, filtered, keys,
	restored, deleted, conflicts, expired atomic.Int64
	mu     sync.Mutex
	listed []UndoKey
}

// FromUndo runs an undo on opts.Table.
func fromUndo(ctx context.Context, src history.Source, opts undoOptions) (*Result, error) {
	start := time.Now()
	for _, c := range []**progress.Counter{&opts.Listed, &opts.Fetched, &opts.Written, &opts.Deleted} {
		if *c == nil {
			*c = &progress.Counter{}
		}
	}
	if !opts.From.Before(opts.To) {
		return nil, &RequestError{fmt.Sprintf("--from %s is not before --to %s", history.FormatTime(opts.From), history.FormatTime(opts.To))}
	}
	times := history.Window(opts.From, opts.To)
	if err := history.Wait(ctx, times[1], opts.ClockSkew); err != nil {
		return nil, err
	}
	u := &undoer{opts: opts, src: src, limiter: retry.NewLimiter(opts.MaxWCU, time.Second)}
	plan := opts.Plan
	plan.Newer = true // a change at or after To makes a conflict
	walk := &history.Walk[*undoKey]{Source: src, Dir: opts.Source.Dir(), Plan: plan, Validate: true, Times: times,
		Fetchers: opts.Fetchers, Listed: opts.Listed, Fetched: opts.Fetched,
		Pick: func(k *history.Key) ([]history.Entry, *undoKey, bool, error) {
			u.keys.Add(1)
			if k.Pos[0] == k.Pos[1] { // no entry in the window
				u.unchanged.Add(1)
				return nil, nil, false, nil
			}
			uk := &undoKey{before: k.Exists[0], end: k.Exists[1], after: k.Pos[1] > 0}
			if !opts.Undo.IncludeExpired {
				uk.ttl = k.DeletesIn(k.Pos[1], k.Pos[0])
			}
			var read []history.Entry
			if uk.before {
				read = append(read, k.At[0])
			}
			if uk.end {
				read = append(read, k.At[1])
			}
			if len(read) == 0 {
				if !k.HasImage { // never an image: nothing to compare or write
					u.unchanged.Add(1)
					return nil, nil, false, nil
				}
				read = append(read, k.Newest) // for its key
			}
			return read, uk, true, nil
		},
		// The reads, the live item and the conditional write of each key
		// run beside each other, many keys at once.
		Keep: func(ctx context.Context, _ *history.Key, uk *undoKey, got []history.Version) (bool, error) {
			return false, u.settle(ctx, uk, got)
		},
		Emit: func(context.Context, *history.Key, *undoKey, []history.Version) error { return nil },
	}
	_, err := walk.Run(ctx)
	res := &Result{Keys: u.keys.Load(), Unchanged: u.unchanged.Load(), Filtered: u.filtered.Load(), Conflicts: u.conflicts.Load(),
		Elapsed: time.Since(start), Requests: u.requests.Load(), Throttled: u.throttle.Load()}
	if !opts.DryRun {
		res.Puts, res.Deletes = u.restored.Load(), u.deleted.Load()
	}
	sort.Slice(u.listed, func(i, j int) bool { return string(u.listed[i].Key) < string(u.listed[j].Key) })
	for _, k := range u.listed {
		if k.Action == UndoConflict && len(res.ConflictKeys) < MaxConflictKeys {
			res.ConflictKeys = append(res.ConflictKeys, string(k.Key))
		}
	}
	res.Undo = &UndoResult{Restored: u.restored.Load(), Deleted: u.deleted.Load(), Conflicts: u.conflicts.Load(), Expired: u.expired.Load(), Listed: u.listed}
	return res, err
}

// settle decides one key changed in the window and writes it.
func (u *undoer) settle(ctx context.Context, uk *undoKey, got []history.Version) error {
	sc := &scoper{opts: u.opts.VersionsOptions, src: u.src}
	for _, v := range got {
		if err := sc.check(v); err != nil {
			return err
		}
	}
	key, err := u.opts.Schema.Key(got[0].Item)
	if err != nil {
		return err
	}
	var before, end item.Item
	if uk.before {
		before, got = got[0].Item, got[1:]
	}
	if uk.end {
		end = got[0].Item
	}
	now, err := u.live(ctx, key)
	if err != nil {
		return err
	}
	// The state to put back: the one before the window, unless TTL
	// deleted the item in it. A TTL delete is not undone: the key is put
	// back to absent, as TTL left it (docs/DESIGN.md §7).
	target, expired := before, false
	if len(uk.ttl) > 0 {
		if err := history.ResolveExpired(ctx, u.src, uk.ttl); err != nil {
			return err
		}
		if expired = history.AnyExpired(uk.ttl); expired {
			target = nil
		}
	}
	// The filter, as for --rewind, on the state put back and the live item;
	// a TTL delete left alone (both absent) is in scope by its images.
	if f := u.opts.Filter; f != nil && (target != nil || now != nil) {
		var matched, other bool
		for _, it := range []item.Item{target, now} {
			if it == nil {
				continue
			}
			ok, err := f(it)
			if err != nil {
				return err
			}
			matched, other = matched || ok, other || !ok
		}
		switch {
		case matched && other:
			return u.conflict(key, "the state to put back and its live item disagree on the filter (moved into or out of the selection)", before, end, now)
		case !matched:
			u.filtered.Add(1)
			return nil
		}
	} else if f != nil && expired {
		ok, err := filter.AnyMatches(f, before, end)
		if err != nil {
			return err
		}
		if !ok {
			u.filtered.Add(1)
			return nil
		}
	}
	if expired {
		u.expired.Add(1)
		u.list(key, UndoExpired, "deleted by TTL in the window: not undone", before, end, now)
	}
	if same(now, target) {
		u.unchanged.Add(1) // nothing to undo, or undone already (a rerun)
		return nil
	}
	if uk.after {
		return u.conflict(key, "changed again at or after --to", before, end, now)
	}
	if !same(now, end) {
		return u.conflict(key, "the live item is not the backup's state at the end of the window (written outside the stream's view, or the backup lags)", before, end, now)
	}
	action, n := UndoRestore, &u.restored
	if target == nil {
		action, n = UndoDelete, &u.deleted
	}
	if u.opts.DryRun {
		n.Add(1)
		u.list(key, action, "", target, end, now)
		return nil
	}
	cond, err := StateCondition(end, u.opts.Schema.Hash.Name)
	if errors.Is(err, ErrConditionTooBig) {
		return u.conflict(key, err.Error(), before, end, now)
	}
	if err != nil {
		return err
	}
	err = u.write(ctx, key, target, cond)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		// Written by someone else since it was read: theirs stays.
		if now, err = u.live(ctx, key); err != nil {
			return err
		}
		return u.conflict(key, "written while the undo ran (the conditional write failed): left as written", before, end, now)
	}
	if err != nil {
		return err
	}
	n.Add(1)
	if target == nil {
		u.opts.Deleted.Add(1)
	} else {
		u.opts.Written.Add(1)
	}
	return nil
}

// same reports whether two states are equal by meaning (nil: absent).
func same(a, b item.Item) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	x, err1 := itemcmp.Canonical(a)
	y, err2 := itemcmp.Canonical(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// live reads the key's item now (consistent), nil when absent.
func (u *undoer) live(ctx context.Context, key item.Item) (item.Item, error) {
	var out *dynamodb.GetItemOutput
	err := retry.Do(ctx, retry.Backoff{Base: 50 * time.Millisecond, Cap: 5 * time.Second}, 10, retry.Retryable, func() error {
		var err error
		out, err = u.opts.API.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(u.opts.Table), Key: key, ConsistentRead: aws.Bool(true)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the current item of key %s from table %s: %w", keyString(key, u.opts.Schema), u.opts.Table, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// write puts target (nil: deletes key) if cond holds, retrying throttling
// and transient errors.
func (u *undoer) write(ctx context.Context, key, target item.Item, cond *Condition) error {
	wcu := int64(1)
	if target != nil {
		wcu = WCU(target)
	}
	return retry.Do(ctx, retry.Backoff{Base: 50 * time.Millisecond, Cap: 10 * time.Second}, 30, func(err error) bool {
		ok := retry.Retryable(err)
		if ok {
			u.throttle.Add(1)
		}
		return ok
	}, func() error {
		if err := u.limiter.Wait(ctx, float64(wcu)); err != nil {
			return err
		}
		u.requests.Add(1)
		var err error
		if target != nil {
			_, err = u.opts.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(u.opts.Table), Item: target,
				ConditionExpression: aws.String(cond.Expression), ExpressionAttributeNames: cond.Names, ExpressionAttributeValues: cond.Values})
		} else {
			_, err = u.opts.API.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(u.opts.Table), Key: key,
				ConditionExpression: aws.String(cond.Expression), ExpressionAttributeNames: cond.Names, ExpressionAttributeValues: cond.Values})
		}
		if err != nil && !retry.Retryable(err) {
			var ccf *types.ConditionalCheckFailedException
			if !errors.As(err, &ccf) {
				err = fmt.Errorf("undo key %s in table %s: %w", keyString(key, u.opts.Schema), u.opts.Table, err)
			}
		}
		return err
	})
}

func (u *undoer) conflict(key item.Item, reason string, before, end, now item.Item) error {
	u.conflicts.Add(1)
	u.list(key, UndoConflict, reason, before, end, now)
	return nil
}

func (u *undoer) list(key item.Item, action, reason string, before, end, now item.Item) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.listed) >= MaxUndoListed {
		return
	}
	u.listed = append(u.listed, UndoKey{Key: json.RawMessage(keyString(key, u.opts.Schema)), Action: action, Reason: reason,
		Before: stateJSON(before), End: stateJSON(end), Now: stateJSON(now)})
}

// stateJSON is a state as DynamoDB JSON, null when absent.
func stateJSON(it item.Item) json.RawMessage {
	if it == nil {
		return json.RawMessage("null")
	}
	b, err := item.Marshal(it)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}
