package snapshot_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// model is what the table held at the end of each second, computed from the
// writes alone, independently of any listing.
type model struct {
	mu     sync.Mutex
	states map[int64]map[string]string // unix second -> object key -> body
}

// TestPointInTimeAgainstModel writes puts and deletes across many keys over
// several seconds, in bursts kept inside one wall-clock second each (so the
// second a write is stamped with is known), including a put then a delete
// and a delete then a put of one key within one second, then snapshots at
// every second and compares with the model.
func TestPointInTimeAgainstModel(t *testing.T) {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, true)
	cl := c.S3()
	ctx := context.Background()
	src := layout.TableLocation(bucket, "backups", "orders")
	const keys, seconds = 40, 5
	rng := rand.New(rand.NewSource(1))
	current := map[string]string{}
	m := &model{states: map[int64]map[string]string{}}
	var firstSecond, lastSecond int64
	keyOf := func(i int) (string, item.Item) {
		k := item.Item{"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("user#%d", i)}, "sk": &types.AttributeValueMemberN{Value: "1"}}
		id, err := item.KeyID(k)
		if err != nil {
			t.Fatal(err)
		}
		return src.ObjectKey(id), k
	}
	for s := 0; s < seconds; s++ {
		// Start each burst just after a second begins; finish well before it ends.
		now := time.Now()
		time.Sleep(now.Truncate(time.Second).Add(time.Second + 50*time.Millisecond).Sub(now))
		sec := time.Now().Unix()
		if s == 0 {
			firstSecond = sec
		}
		var ops []func()
		for i := 0; i < keys; i++ {
			key, k := keyOf(i)
			// 0: put, 1: delete, 2: put then delete, 3: delete then put, 4: two puts, 5: nothing
			kind := rng.Intn(6)
			if s == 0 && i%6 < 5 {
				kind = i % 6
			}
			var seq []func()
			put := func(v int) func() {
				it := item.Item{"pk": k["pk"], "sk": k["sk"], "v": &types.AttributeValueMemberN{Value: fmt.Sprint(v)},
					"s": &types.AttributeValueMemberS{Value: fmt.Sprintf("second %d op %d", s, v)}}
				body, _ := item.Marshal(it)
				return func() {
					if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
						t.Error(err)
					}
					m.mu.Lock()
					current[key] = string(body)
					m.mu.Unlock()
				}
			}
			del := func() {
				if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
					t.Error(err)
				}
				m.mu.Lock()
				delete(current, key)
				m.mu.Unlock()
			}
			switch kind {
			case 0:
				seq = []func(){put(rng.Int())}
			case 1:
				seq = []func(){del}
			case 2:
				seq = []func(){put(rng.Int()), del}
			case 3:
				seq = []func(){del, put(rng.Int())}
			case 4:
				seq = []func(){put(rng.Int()), put(rng.Int())}
			}
			ops = append(ops, func() {
				for _, op := range seq {
					op()
				}
			})
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for _, op := range ops {
			wg.Add(1)
			sem <- struct{}{}
			go func() { defer wg.Done(); op(); <-sem }()
		}
		wg.Wait()
		// A burst that overran its second leaves the seconds it spans
		// ambiguous; the state at the end of its last second is still known,
		// since the next burst starts in a later second.
		end := time.Now().Unix()
		if end != sec {
			t.Logf("burst of second %d overran into %d", sec, end)
		}
		snap := map[string]string{}
		for k, v := range current {
			snap[k] = v
		}
		m.states[end] = snap
		lastSecond = end
	}

	check := func(name string, at time.Time, want map[string]string, opts snapshot.Options) {
		t.Helper()
		dir := filepath.Join(t.TempDir(), name)
		opts.Source, opts.At = src, at
		res, err := snapshot.Run(ctx, s3source.New(cl, opts.Source.Bucket), store.NewLocal(dir), opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := readAll(t, dir)
		if len(got) != len(want) || res.Items != int64(len(want)) {
			t.Errorf("%s: snapshot has %d items (result %d), model %d", name, len(got), res.Items, len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, model %q", name, k, got[k], v)
			}
		}
	}
	for sec, want := range m.states {
		at := time.Unix(sec, 0)
		check(fmt.Sprintf("at-%d", sec-firstSecond), at, want, snapshot.Options{})
		check(fmt.Sprintf("at-%d-half", sec-firstSecond), at.Add(500*time.Millisecond), want, snapshot.Options{Compression: "zstd", Ranges: 256})
	}
	last := m.states[lastSecond]
	for _, pageSize := range []int32{1, 2, 3, 7} {
		check(fmt.Sprintf("page-%d", pageSize), time.Unix(lastSecond, 0), last,
			snapshot.Options{MaxKeys: pageSize, Concurrency: 4, ListConcurrency: 3})
	}
	check("before-first", time.Unix(firstSecond-1, 0), map[string]string{}, snapshot.Options{})
	check("single-file", time.Unix(lastSecond, 0), last, snapshot.Options{SingleFile: true})
}

// readAll reads a snapshot back through its manifests, keyed by object key.
func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	s, err := snapshot.Open(context.Background(), store.NewLocal(dir))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	err = s.EachItem(context.Background(), func(l snapshot.Line) error {
		if _, dup := got[l.Source.Key]; dup {
			return fmt.Errorf("key %s appears twice", l.Source.Key)
		}
		got[l.Source.Key] = string(l.Item)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
