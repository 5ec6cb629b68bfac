// Package membucket is an in-memory journal.Bucket for tests: objects in a
// map, LastModified from a clock the test sets, If-None-Match honoured.
package membucket

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dynasnap/dynasnap/internal/journal"
)

// Bucket is safe for concurrent use.
type Bucket struct {
	mu   sync.Mutex
	objs map[string]obj
	// Now stamps LastModified (nil: time.Now), whole seconds as S3's.
	Now func() time.Time
	// Gets, Puts, Lists and Deletes count requests; Ranges the Gets of a
	// byte range.
	Gets, Puts, Lists, Deletes, Ranges int
}

type obj struct {
	body []byte
	mod  time.Time
}

func New() *Bucket { return &Bucket{objs: map[string]obj{}} }

func (b *Bucket) Name() string { return "membucket" }

func (b *Bucket) now() time.Time {
	if b.Now != nil {
		return b.Now().Truncate(time.Second)
	}
	return time.Now().Truncate(time.Second)
}

func (b *Bucket) List(ctx context.Context, prefix, startAfter string, fn func(journal.Object) bool) error {
	b.mu.Lock()
	b.Lists++
	var keys []string
	for k := range b.objs {
		if strings.HasPrefix(k, prefix) && k > startAfter {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	objs := make([]journal.Object, len(keys))
	for i, k := range keys {
		objs[i] = journal.Object{Key: k, LastModified: b.objs[k].mod, Size: int64(len(b.objs[k].body))}
	}
	b.mu.Unlock()
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !fn(o) {
			return nil
		}
	}
	return nil
}

func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Gets++
	o, ok := b.objs[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, journal.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(o.body)), nil
}

func (b *Bucket) Put(ctx context.Context, key string, body []byte, ifAbsent bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Puts++
	if _, ok := b.objs[key]; ok && ifAbsent {
		return fmt.Errorf("%s: %w", key, journal.ErrExists)
	}
	b.objs[key] = obj{body: bytes.Clone(body), mod: b.now()}
	return nil
}

func (b *Bucket) Delete(ctx context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Deletes++
	delete(b.objs, key)
	return nil
}

// Keys lists every key, sorted.
func (b *Bucket) Keys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var keys []string
	for k := range b.objs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// SetModified changes an object's LastModified (a segment stored late).
func (b *Bucket) SetModified(key string, t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.objs[key]
	o.mod = t.Truncate(time.Second)
	b.objs[key] = o
}

// GetRange reads bytes [off, off+n) of key (journal.RangeBucket).
func (b *Bucket) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Gets++
	b.Ranges++
	o, ok := b.objs[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, journal.ErrNotExist)
	}
	if off < 0 || n <= 0 || off >= int64(len(o.body)) {
		return nil, fmt.Errorf("%s: range %d+%d outside its %d bytes", key, off, n, len(o.body))
	}
	return io.NopCloser(bytes.NewReader(o.body[off:min(off+n, int64(len(o.body)))])), nil
}
