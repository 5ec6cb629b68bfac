package restore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/item"
)

// fakeTable is a BatchWriteItem that throttles, returns part of each batch
// unprocessed, and records what it applied.
type fakeTable struct {
	mu        sync.Mutex
	items     map[string]item.Item
	writes    map[string]int
	throttle  float64 // chance a call fails with ProvisionedThroughputExceededException
	unprocess float64 // chance each request comes back unprocessed
	calls     atomic.Int64
	fail      error // every call fails with this
	maxBatch  int
}

func newFakeTable() *fakeTable {
	return &fakeTable{items: map[string]item.Item{}, writes: map[string]int{}}
}

func (f *fakeTable) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.calls.Add(1)
	if f.fail != nil {
		return nil, f.fail
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if rand.Float64() < f.throttle {
		return nil, &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	}
	out := &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]types.WriteRequest{}}
	for table, reqs := range in.RequestItems {
		if len(reqs) > BatchSize {
			return nil, fmt.Errorf("batch of %d", len(reqs))
		}
		f.maxBatch = max(f.maxBatch, len(reqs))
		for _, r := range reqs {
			if rand.Float64() < f.unprocess {
				out.UnprocessedItems[table] = append(out.UnprocessedItems[table], r)
				continue
			}
			if r.PutRequest != nil {
				k := r.PutRequest.Item["pk"].(*types.AttributeValueMemberS).Value
				f.items[k] = r.PutRequest.Item
				f.writes[k]++
			} else {
				delete(f.items, r.DeleteRequest.Key["pk"].(*types.AttributeValueMemberS).Value)
			}
		}
	}
	return out, nil
}

func noSleep(ctx context.Context, d time.Duration) error { return ctx.Err() }

func putAll(ctx context.Context, w *Writer, n, producers int) error {
	return w.Run(ctx, func(ctx context.Context) error {
		var wg sync.WaitGroup
		errs := make(chan error, producers)
		for p := range producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := w.NewBatcher()
				for i := p; i < n; i += producers {
					it := item.Item{"pk": &types.AttributeValueMemberS{Value: fmt.Sprint(i)}, "v": &types.AttributeValueMemberN{Value: "1"}}
					if err := b.Put(ctx, it); err != nil {
						errs <- err
						return
					}
				}
				errs <- b.Flush(ctx)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func TestWriterRetriesUnprocessedAndThrottling(t *testing.T) {
	f := newFakeTable()
	f.throttle, f.unprocess = 0.2, 0.3
	w := &Writer{Client: f, Table: "t", Workers: 8, Sleep: noSleep}
	if err := putAll(context.Background(), w, 5000, 3); err != nil {
		t.Fatal(err)
	}
	if len(f.items) != 5000 {
		t.Fatalf("table has %d items, want 5000", len(f.items))
	}
	if w.Stats.Puts.Load() != 5000 {
		t.Fatalf("counted %d puts, want 5000", w.Stats.Puts.Load())
	}
	if w.Stats.Unprocessed.Load() == 0 || w.Stats.Throttled.Load() == 0 || w.Stats.Backoffs.Load() == 0 {
		t.Fatalf("no retries exercised: %+v", &w.Stats)
	}
	if f.maxBatch != BatchSize {
		t.Fatalf("largest batch %d, want %d", f.maxBatch, BatchSize)
	}
	for k, n := range f.writes {
		if n != 1 {
			t.Fatalf("item %s applied %d times", k, n)
		}
	}
}

func TestWriterFailsOnNonRetryable(t *testing.T) {
	f := newFakeTable()
	f.fail = &types.ResourceNotFoundException{Message: aws.String("no table")}
	w := &Writer{Client: f, Table: "t", Workers: 4, Sleep: noSleep}
	err := putAll(context.Background(), w, 1000, 2)
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v", err)
	}
	if f.calls.Load() > 8 {
		t.Fatalf("%d calls after a non-retryable error", f.calls.Load())
	}
}

func TestWriterGivesUpWhenStalled(t *testing.T) {
	f := newFakeTable()
	f.unprocess = 1
	w := &Writer{Client: f, Table: "t", Workers: 2, MaxAttempts: 5, Sleep: noSleep}
	err := putAll(context.Background(), w, 30, 1)
	if err == nil || f.calls.Load() > 12 {
		t.Fatalf("err = %v after %d calls", err, f.calls.Load())
	}
}

func TestWriterStopsOnCancel(t *testing.T) {
	f := newFakeTable()
	f.unprocess = 1
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{Client: f, Table: "t", Workers: 4, BackoffBase: time.Millisecond}
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	err := putAll(ctx, w, 10000, 2)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

func TestRateCap(t *testing.T) {
	f := newFakeTable()
	// 300 one-unit items at 1,000 WCU/s with a one second burst: fast.
	// 3,000 at 1,000 WCU/s: at least two seconds.
	w := &Writer{Client: f, Table: "t", Workers: 8, MaxWCU: 1000}
	start := time.Now()
	if err := putAll(context.Background(), w, 3000, 2); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 1800*time.Millisecond || el > 4*time.Second {
		t.Fatalf("3,000 WCU at 1,000/s took %v", el)
	}
}

func TestWCU(t *testing.T) {
	small := item.Item{"pk": &types.AttributeValueMemberS{Value: "a"}}
	big := item.Item{"pk": &types.AttributeValueMemberS{Value: "a"}, "b": &types.AttributeValueMemberB{Value: make([]byte, 2500)}}
	if WCU(small) != 1 || WCU(big) != 3 {
		t.Fatalf("WCU small %d big %d", WCU(small), WCU(big))
	}
}

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := t0.Add(10 * time.Second)
	put := func(s int, id string) history.Entry {
		return history.Entry{Key: "k", VersionID: id, LastModified: t0.Add(time.Duration(s) * time.Second)}
	}
	del := func(s int, id string) history.Entry {
		e := put(s, id)
		e.IsDelete = true
		return e
	}
	cases := []struct {
		name    string
		entries []history.Entry
		rewind  bool
		want    string
	}{
		{"unchanged, rewind", []history.Entry{put(5, "a")}, true, "skip"},
		{"unchanged, full", []history.Entry{put(5, "a")}, false, "put a"},
		{"modified after", []history.Entry{put(15, "b"), put(5, "a")}, true, "put a"},
		{"created after", []history.Entry{put(15, "b")}, true, "delete b"},
		{"created after, full", []history.Entry{put(15, "b")}, false, "skip"},
		{"deleted after", []history.Entry{del(15, "d"), put(5, "a")}, true, "put a"},
		{"deleted before", []history.Entry{del(5, "d"), put(2, "a")}, true, "skip"},
		{"deleted before, recreated after", []history.Entry{put(15, "c"), del(5, "d"), put(2, "a")}, true, "delete c"},
		{"created and deleted after", []history.Entry{del(16, "d"), put(15, "c")}, true, "delete c"},
		{"same second as at", []history.Entry{put(10, "b"), put(5, "a")}, true, "skip"},
		{"only delete markers after", []history.Entry{del(15, "d")}, true, "skip"},
	}
	for _, c := range cases {
		a, touch := decide(history.Fold(c.entries, []time.Time{at}), c.rewind, nil, true)
		got := "skip"
		switch {
		case !touch:
		case a.put != nil:
			got = "put " + a.put.VersionID
		case a.delete != nil:
			got = "delete " + a.delete.VersionID
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	key := item.Item{"pk": &types.AttributeValueMemberS{Value: "x"}}
	if a, touch := decide(history.Fold([]history.Entry{put(15, "b")}, []time.Time{at}), false, key, true); !touch || a.key == nil {
		t.Errorf("--key of an item created after the time must delete it")
	}
}
