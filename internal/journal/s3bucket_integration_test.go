package journal

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// S3Bucket against the local S3 server: a conditional Put (If-None-Match:
// *) of a taken key answers ErrExists and leaves the first body, which is
// what WriteSegment relies on to take a rewritten segment as stored.
func TestS3BucketPutIfAbsent(t *testing.T) {
	c := testenv.Clients(t)
	b := &S3Bucket{Client: c.S3(), Bucket: testenv.Bucket(t, c, true)}
	ctx := context.Background()
	if err := b.Put(ctx, "t/journal/0/a.jsonl.gz", []byte("first"), true); err != nil {
		t.Fatal(err)
	}
	err := b.Put(ctx, "t/journal/0/a.jsonl.gz", []byte("second"), true)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second conditional put: %v, want ErrExists", err)
	}
	rc, err := b.Get(ctx, "t/journal/0/a.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, []byte("first")) {
		t.Fatalf("body %q after a refused put, want %q", got, "first")
	}
	// An unconditional put still replaces it.
	if err := b.Put(ctx, "t/journal/0/a.jsonl.gz", []byte("third"), false); err != nil {
		t.Fatal(err)
	}
}
