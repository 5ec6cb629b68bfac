package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
)

// S3API is what S3Bucket calls.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// S3Bucket is a Bucket on S3.
type S3Bucket struct {
	Client S3API
	Bucket string
	// Lean, when set, reads whole objects first (fastget's lean GET: a
	// compaction reads hundreds of segments); any error but the
	// context's falls back to Client.
	Lean LeanGetter
}

// LeanGetter reads version versionID ("": the current one) of an object
// into buf.
type LeanGetter interface {
	Get(ctx context.Context, bucket, key, versionID string, buf *bytes.Buffer) error
}

// readLean reads an object whole through Lean; served is false when
// it did not (no Lean, or any error but the context's), for the caller
// to read it through Client.
func (b *S3Bucket) readLean(ctx context.Context, key string) (body []byte, served bool, err error) {
	if b.Lean == nil {
		return nil, false, nil
	}
	var buf bytes.Buffer
	if err := b.Lean.Get(ctx, b.Bucket, key, "", &buf); err != nil {
		return nil, ctx.Err() != nil, ctx.Err()
	}
	return buf.Bytes(), true, nil
}

func (b *S3Bucket) Name() string { return b.Bucket }

func (b *S3Bucket) List(ctx context.Context, prefix, startAfter string, fn func(Object) bool) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(b.Bucket), Prefix: aws.String(prefix)}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	for {
		out, err := b.Client.ListObjectsV2(ctx, in)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", b.Bucket, prefix, err)
		}
		for _, o := range out.Contents {
			if !fn(Object{Key: aws.ToString(o.Key), LastModified: aws.ToTime(o.LastModified), Size: aws.ToInt64(o.Size)}) {
				return nil
			}
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
		in.StartAfter = nil
	}
}

func (b *S3Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return b.getObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Bucket), Key: aws.String(key)}, "")
}

func (b *S3Bucket) Put(ctx context.Context, key string, body []byte, ifAbsent bool) error {
	in := &s3.PutObjectInput{Bucket: aws.String(b.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		// S3 verifies it before it stores the object (and Object Lock
		// buckets require one), so a stored segment is the bytes sent.
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}
	if ifAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := b.Client.PutObject(ctx, in); err != nil {
		if ifAbsent && httpStatus(err) == http.StatusPreconditionFailed {
			return fmt.Errorf("s3://%s/%s: %w", b.Bucket, key, ErrExists)
		}
		return fmt.Errorf("put s3://%s/%s: %w", b.Bucket, key, err)
	}
	return nil
}

func (b *S3Bucket) Delete(ctx context.Context, key string) error {
	if _, err := b.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.Bucket), Key: aws.String(key)}); err != nil {
		return fmt.Errorf("delete s3://%s/%s: %w", b.Bucket, key, err)
	}
	return nil
}

// deleteObjectsAPI is S3's batch delete, when the client has it.
type deleteObjectsAPI interface {
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, opts ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
}

// maxDeleteKeys is the most keys one DeleteObjects request takes;
// deleteBatches is how many requests share a delete, each of at least
// minDeleteKeys keys: a store deletes a request's keys one after another
// (SeaweedFS about 1.5 ms each), so many requests at once go faster than
// one (640 segments: 64 requests of 10 took 0.2 s less than 16 of 40).
const (
	maxDeleteKeys = 1000
	minDeleteKeys = 8
	deleteBatches = 64
)

// DeleteMany removes keys (delete markers in a versioned bucket), many
// a request (DeleteObjects, quiet: only failures are listed), a few
// requests at once: a compaction deletes every segment it covered,
// hundreds a run.
func (b *S3Bucket) DeleteMany(ctx context.Context, keys []string) error {
	api, ok := b.Client.(deleteObjectsAPI)
	if !ok {
		return deleteEach(ctx, b, keys)
	}
	size := min(maxDeleteKeys, max(minDeleteKeys, (len(keys)+deleteBatches-1)/deleteBatches))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(deleteBatches)
	for lo := 0; lo < len(keys) && gctx.Err() == nil; lo += size {
		batch := keys[lo:min(lo+size, len(keys))]
		g.Go(func() error {
			ids := make([]types.ObjectIdentifier, len(batch))
			for i, k := range batch {
				ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
			}
			out, err := api.DeleteObjects(gctx, &s3.DeleteObjectsInput{Bucket: aws.String(b.Bucket),
				Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
			if err != nil {
				return fmt.Errorf("delete %d objects from s3://%s (first %s): %w", len(batch), b.Bucket, batch[0], err)
			}
			if len(out.Errors) > 0 {
				e := out.Errors[0]
				return fmt.Errorf("delete s3://%s/%s: %s: %s (%d of %d keys failed)", b.Bucket, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors), len(batch))
			}
			return nil
		})
	}
	return g.Wait()
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed") {
		return http.StatusPreconditionFailed
	}
	return 0
}
