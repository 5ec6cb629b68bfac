// Package restore writes items back into a DynamoDB table: from a snapshot
// (data file by data file, with a checkpoint of finished files so a rerun
// after a crash resumes) or straight from the backup's versions at a point
// in time (all keys, one key, or with --rewind only the keys changed since).
package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/retry"
)

// BatchSize is the most write requests one BatchWriteItem takes.
const BatchSize = 25

// BatchAPI is the one DynamoDB call the writer makes; tests fake it.
type BatchAPI interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Writer sends batches of puts and deletes from many workers. It retries
// UnprocessedItems and throttling or transient errors itself, with
// exponential backoff and full jitter, so that the retries are counted and
// no SDK retry quota can end a long restore early.
type Writer struct {
	Client  BatchAPI
	Table   string
	Workers int     // requests in flight; default 32
	MaxWCU  float64 // write capacity units a second; 0: no cap

	BackoffBase time.Duration // first backoff; default 50ms
	BackoffCap  time.Duration // longest backoff; default 10s
	// MaxAttempts is how many rounds in a row a batch may make no progress
	// (every request unprocessed, or a retryable error) before the restore
	// fails; default 30, about five minutes at the cap.
	MaxAttempts int

	// Progress counters, optional.
	Written, Deleted *progress.Counter

	// Sleep waits for d or until ctx ends; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error

	Stats Stats

	q       chan *batch
	limiter *retry.Limiter // nil: no --max-wcu
	raw     bool           // the client is the SDK's: raw bodies can be used
}

// Stats counts the writer's work; safe for concurrent use.
type Stats struct {
	Requests    atomic.Int64 // BatchWriteItem calls
	Puts        atomic.Int64 // put requests DynamoDB processed
	Deletes     atomic.Int64
	Unprocessed atomic.Int64 // requests returned as UnprocessedItems and sent again
	Throttled   atomic.Int64 // calls that failed with a throttling or transient error and were retried
	Backoffs    atomic.Int64
	BackoffTime atomic.Int64 // nanoseconds spent backing off, summed over workers
	WCU         atomic.Int64 // estimated write capacity units consumed
}

type batch struct {
	raw  []json.RawMessage // puts as DynamoDB JSON, sent as is (see raw.go)
	reqs []types.WriteRequest
	wcu  []int64 // per request, for the rate cap
	done func(error)
}

func (w *Writer) defaults() {
	if w.Workers <= 0 {
		w.Workers = 32
	}
	if w.BackoffBase <= 0 {
		w.BackoffBase = 50 * time.Millisecond
	}
	if w.BackoffCap <= 0 {
		w.BackoffCap = 10 * time.Second
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = 30
	}
	if w.Sleep == nil {
		w.Sleep = retry.Sleep
	}
	if w.Written == nil {
		w.Written = &progress.Counter{}
	}
	if w.Deleted == nil {
		w.Deleted = &progress.Counter{}
	}
	_, w.raw = w.Client.(*dynamodb.Client)
	w.limiter = retry.NewLimiter(w.MaxWCU, time.Second)
}

// Run starts the workers, calls produce, which feeds them through Batchers
// made with NewBatcher, and returns when every batch is written or the first
// error. A Writer runs once.
func (w *Writer) Run(ctx context.Context, produce func(ctx context.Context) error) error {
	w.defaults()
	w.q = make(chan *batch, w.Workers)
	g, gctx := errgroup.WithContext(ctx)
	for range w.Workers {
		g.Go(func() error {
			for b := range w.q {
				err := w.write(gctx, b)
				b.done(err)
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(w.q)
		return produce(gctx)
	})
	err := g.Wait()
	// Batches left in the queue after a failure still release their
	// Batchers, so no producer waits forever.
	for b := range w.q {
		b.done(errAborted)
	}
	return err
}

// Batcher groups one producer's requests into batches of 25. It is not safe
// for concurrent use: give each producer goroutine its own.
type Batcher struct {
	w       *Writer
	cur     *batch
	pending sync.WaitGroup
	mu      sync.Mutex
	err     error // the first batch that failed
}

// errAborted marks batches never sent because the run failed elsewhere.
var errAborted = errors.New("restore aborted before this batch was written")

// NewBatcher makes a Batcher feeding w; only valid inside produce.
func (w *Writer) NewBatcher() *Batcher { return &Batcher{w: w} }

// Put adds a put of the whole item, without a legacy global table's
// aws:rep:* attributes (item.ReplicationPrefix): they are never written back.
func (b *Batcher) Put(ctx context.Context, it item.Item) error {
	it = item.WithoutReplication(it)
	return b.add(ctx, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}, WCU(it))
}

// Delete adds a delete of the item with this key.
func (b *Batcher) Delete(ctx context.Context, key item.Item) error {
	return b.add(ctx, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key}}, 1)
}

func (b *Batcher) add(ctx context.Context, r types.WriteRequest, wcu int64) error {
	if b.cur != nil && b.cur.raw != nil {
		if err := b.send(ctx); err != nil {
			return err
		}
	}
	if b.cur == nil {
		b.cur = &batch{reqs: make([]types.WriteRequest, 0, BatchSize), wcu: make([]int64, 0, BatchSize)}
	}
	b.cur.reqs = append(b.cur.reqs, r)
	b.cur.wcu = append(b.cur.wcu, wcu)
	if len(b.cur.reqs) == BatchSize {
		return b.send(ctx)
	}
	return nil
}

func (b *Batcher) send(ctx context.Context) error {
	bt := b.cur
	b.cur = nil
	if bt == nil || len(bt.reqs)+len(bt.raw) == 0 {
		return nil
	}
	b.pending.Add(1)
	bt.done = func(err error) {
		if err != nil {
			b.mu.Lock()
			if b.err == nil {
				b.err = err
			}
			b.mu.Unlock()
		}
		b.pending.Done()
	}
	select {
	case b.w.q <- bt:
		return nil
	case <-ctx.Done():
		b.pending.Done()
		return ctx.Err()
	}
}

// Flush sends the last partial batch and waits until every batch of this
// Batcher has been written (or the run failed: then it returns ctx's error).
func (b *Batcher) Flush(ctx context.Context) error {
	if err := b.send(ctx); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		b.pending.Wait()
		close(done)
	}()
	select {
	case <-done:
		// A batch that failed was released too: its file is not finished.
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.err != nil {
			return b.err
		}
		return ctx.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write sends one batch until DynamoDB has processed every request.
func (w *Writer) write(ctx context.Context, b *batch) error {
	reqs, wcus, raw := b.reqs, b.wcu, b.raw
	attempt, stalled := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if w.limiter != nil {
			var n int64
			for _, c := range wcus {
				n += c
			}
			if d := w.limiter.Reserve(float64(n)); d > 0 {
				if err := w.Sleep(ctx, d); err != nil {
					return err
				}
			}
		}
		w.Stats.Requests.Add(1)
		var out *dynamodb.BatchWriteItemOutput
		var err error
		sent := len(reqs)
		// A call once sent runs to its answer even when the restore is
		// stopping: cut off, its items may be written without being
		// counted, and the count of items written must be exact at every
		// stop. The timeout bounds how long a stop may wait.
		callCtx, cancelCall := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
		if raw != nil {
			sent = len(raw)
			out, err = w.Client.BatchWriteItem(callCtx, placeholder(w.Table), noSDKRetries, withBody(rawBody(w.Table, raw)))
		} else {
			out, err = w.Client.BatchWriteItem(callCtx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{w.Table: reqs},
			}, noSDKRetries)
		}
		cancelCall()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !retry.Retryable(err) {
				return fmt.Errorf("write %d items to table %s: %w", sent, w.Table, err)
			}
			w.Stats.Throttled.Add(1)
			stalled++
			if stalled >= w.MaxAttempts {
				return fmt.Errorf("write %d items to table %s: no progress after %d attempts: %w", sent, w.Table, stalled, err)
			}
			attempt++
			if err := w.backoff(ctx, attempt); err != nil {
				return err
			}
			continue
		}
		un := out.UnprocessedItems[w.Table]
		if len(un) > sent {
			return fmt.Errorf("write to table %s: DynamoDB returned %d unprocessed requests for %d sent", w.Table, len(un), sent)
		}
		if raw != nil {
			w.countRaw(len(raw), un)
		} else {
			w.count(reqs, un)
		}
		raw = nil
		if len(un) == 0 {
			return nil
		}
		w.Stats.Unprocessed.Add(int64(len(un)))
		if len(un) == sent {
			stalled++
			if stalled >= w.MaxAttempts {
				return fmt.Errorf("write %d items to table %s: every request came back unprocessed %d times in a row; the table's write capacity is exhausted (lower --workers or set --max-wcu)", sent, w.Table, stalled)
			}
		} else {
			stalled = 0
		}
		reqs, wcus = un, requestWCU(un)
		attempt++
		if err := w.backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// count adds what DynamoDB processed: the requests sent minus those
// returned unprocessed.
func (w *Writer) count(sent, un []types.WriteRequest) {
	var puts, dels int64
	for _, r := range sent {
		if r.PutRequest != nil {
			puts++
		} else {
			dels++
		}
	}
	for _, r := range un {
		if r.PutRequest != nil {
			puts--
		} else {
			dels--
		}
	}
	w.Stats.Puts.Add(puts)
	w.Stats.Deletes.Add(dels)
	w.Written.Add(puts)
	w.Deleted.Add(dels)
}

// countRaw adds what DynamoDB processed of n raw puts.
func (w *Writer) countRaw(n int, un []types.WriteRequest) {
	puts := int64(n - len(un))
	w.Stats.Puts.Add(puts)
	w.Written.Add(puts)
}

// requestWCU estimates the cost of requests sent again.
func requestWCU(reqs []types.WriteRequest) []int64 {
	out := make([]int64, len(reqs))
	for i, r := range reqs {
		out[i] = 1
		if r.PutRequest != nil {
			out[i] = WCU(r.PutRequest.Item)
		}
	}
	return out
}

func (w *Writer) backoff(ctx context.Context, attempt int) error {
	d := retry.Backoff{Base: w.BackoffBase, Cap: w.BackoffCap}.Delay(attempt)
	w.Stats.Backoffs.Add(1)
	w.Stats.BackoffTime.Add(int64(d))
	return w.Sleep(ctx, d)
}

// callTimeout bounds one BatchWriteItem call (25 items, at most 16 MB).
const callTimeout = 60 * time.Second

// noSDKRetries makes BatchWriteItem fail fast: the writer retries itself.
func noSDKRetries(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }
