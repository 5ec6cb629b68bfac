package journal

import (
	"context"
	"errors"
	"io"
	"time"
)

// Object is one listed object.
type Object struct {
	Key          string
	LastModified time.Time
	Size         int64
}

// ErrNotExist is what Get returns for a missing object.
var ErrNotExist = errors.New("object does not exist")

// ErrExists is what a conditional Put returns when the key is taken.
var ErrExists = errors.New("object already exists")

// Bucket is the object store the journal lives in: the few calls it makes
// (S3: ListObjectsV2, GetObject, PutObject, DeleteObject). S3Bucket is the
// product's; tests use an in-memory one.
type Bucket interface {
	// List calls fn for each object whose key starts with prefix and sorts
	// after startAfter, in key order, until fn returns false.
	List(ctx context.Context, prefix, startAfter string, fn func(Object) bool) error
	// Get opens an object; ErrNotExist when there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Put stores body under key with an integrity checksum the store
	// verifies. With ifAbsent it writes only when no object has the key
	// (If-None-Match: *) and returns ErrExists otherwise.
	Put(ctx context.Context, key string, body []byte, ifAbsent bool) error
	// Delete removes key (a delete marker in a versioned bucket).
	Delete(ctx context.Context, key string) error
	// Name names the bucket in messages.
	Name() string
}

func readAll(ctx context.Context, b Bucket, key string) ([]byte, error) {
	if l, ok := b.(interface {
		readLean(context.Context, string) ([]byte, bool, error)
	}); ok {
		if body, served, err := l.readLean(ctx, key); served {
			return body, err
		}
	}
	rc, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
