package s3source

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BucketClients gives the S3 client for a bucket's own region, and the
// account its requests expect to own the bucket (*awsconf.Clients does).
type BucketClients interface {
	S3For(ctx context.Context, bucket string) (*s3.Client, error)
	ExpectedBucketOwner() string
}

// OpenIn is Open with the client for bucket's region.
func OpenIn(ctx context.Context, clients BucketClients, bucket string) (*Source, error) {
	s, err := NewIn(ctx, clients, bucket)
	if err != nil {
		return nil, err
	}
	return checked(ctx, s)
}

// NewIn is New with the client for bucket's region: the bucket exists and
// answers, but its versioning is not checked yet. For a caller that runs
// Check beside its first listing, and writes nothing before Check passes.
func NewIn(ctx context.Context, clients BucketClients, bucket string) (*Source, error) {
	cl, err := clients.S3For(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("source bucket %s: %w", bucket, err)
	}
	return newSource(cl, bucket, clients.ExpectedBucketOwner()), nil
}
