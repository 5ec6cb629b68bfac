package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

var _ RangeBucket = (*S3Bucket)(nil)

// GetRange reads bytes [off, off+n) of key: GetObject with a Range header
// (RFC 9110 bytes=first-last, both inclusive).
func (b *S3Bucket) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n <= 0 {
		return nil, fmt.Errorf("get s3://%s/%s: empty range %d+%d", b.Bucket, key, off, n)
	}
	return b.getObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Bucket), Key: aws.String(key),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))}, fmt.Sprintf(" bytes %d-%d", off, off+n-1))
}

// getObject is GetObject with a missing key as ErrNotExist; what names
// the part read in messages.
func (b *S3Bucket) getObject(ctx context.Context, in *s3.GetObjectInput, what string) (io.ReadCloser, error) {
	out, err := b.Client.GetObject(ctx, in)
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) || httpStatus(err) == http.StatusNotFound {
			return nil, fmt.Errorf("s3://%s/%s: %w", b.Bucket, aws.ToString(in.Key), ErrNotExist)
		}
		return nil, fmt.Errorf("get s3://%s/%s%s: %w", b.Bucket, aws.ToString(in.Key), what, err)
	}
	return out.Body, nil
}
