// Package store is where snapshots live: a local folder or an S3 prefix,
// behind one small interface. Files appear only when committed, so a reader
// never sees half a file under its final name.
package store

import (
	"context"
	"errors"
	"io"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/layout"
)

// ErrNotExist is returned by Open for a missing file.
var ErrNotExist = errors.New("file does not exist")

// Store is a folder of files addressed by slash-separated relative names.
type Store interface {
	// Create starts a file; it appears under name only on Commit.
	Create(ctx context.Context, name string) (File, error)
	// Put writes a small file in one go.
	Put(ctx context.Context, name string, data []byte) error
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	Exists(ctx context.Context, name string) (bool, error)
	// List returns the names under dir (recursively), sorted.
	List(ctx context.Context, dir string) ([]string, error)
	Remove(ctx context.Context, name string) error
	// URL names a file for people: a local path or s3://bucket/key.
	URL(name string) string
	// Key is what a manifest records for a file: its S3 key, or its
	// relative name for a local folder.
	Key(name string) string
}

// Sub returns the store of the folder dir inside st, for the stores that
// have folders (both of this package's); ok is false for others.
func Sub(st Store, dir string) (Store, bool) {
	if s, ok := st.(interface{ Sub(string) Store }); ok {
		return s.Sub(dir), true
	}
	return nil, false
}

// ETag is a committed file's ETag as S3 reported it, or "" where the store
// has none (a local file).
func ETag(f File) string {
	if e, ok := f.(interface{ ETag() string }); ok {
		return e.ETag()
	}
	return ""
}

// File is a file being written.
type File interface {
	io.Writer
	Commit(ctx context.Context) error
	// Abort discards what was written; safe after Commit.
	Abort()
}

// Options are the S3 write settings, named as the AWS CLI names them.
type Options struct {
	SSE         string // "", "AES256" or "aws:kms"
	SSEKMSKeyID string
	PartSize    int64 // multipart part size; default 5 MiB
}

// Open returns the store for dest: an s3:// URL or a local folder. An S3
// store talks to its bucket's region (clients.S3For).
func Open(clients *awsconf.Clients, dest string, opts Options) (Store, error) {
	if layout.IsS3URL(dest) {
		loc, err := layout.ParseS3URL(dest)
		if err != nil {
			return nil, err
		}
		s, err := NewS3(nil, loc, opts)
		if err != nil {
			return nil, err
		}
		// The bucket's own region, looked up on first use.
		s.forBucket = clients.S3For
		return s, nil
	}
	return NewLocal(dest), nil
}
