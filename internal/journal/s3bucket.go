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
