package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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

// DeleteMany on the local S3 server: every key gone from the listing, in
// batches of DeleteObjects, the others kept; in a versioned bucket each
// deleted key keeps its version behind a delete marker (lifecycle expires
// them, docs/DESIGN.md §10.7).
func TestS3BucketDeleteMany(t *testing.T) {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, true)
	b := &S3Bucket{Client: c.S3(), Bucket: bucket}
	ctx := context.Background()
	var keys []string
	for i := range 100 {
		k := fmt.Sprintf("t/journal/0/%03d.jsonl.gz", i)
		keys = append(keys, k)
		if err := b.Put(ctx, k, []byte("x"), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put(ctx, "t/journal/0/keep.jsonl.gz", []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteMany(ctx, keys); err != nil {
		t.Fatal(err)
	}
	var left []string
	if err := b.List(ctx, "t/journal/0/", "", func(o Object) bool { left = append(left, o.Key); return true }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != "t/journal/0/keep.jsonl.gz" {
		t.Fatalf("left after DeleteMany: %v", left)
	}
	out, err := c.S3().ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String("t/journal/0/0")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Versions) != 100 || len(out.DeleteMarkers) != 100 {
		t.Fatalf("%d versions and %d delete markers, want 100 of each", len(out.Versions), len(out.DeleteMarkers))
	}
	if err := b.DeleteMany(ctx, nil); err != nil {
		t.Fatalf("nothing to delete: %v", err)
	}
}
