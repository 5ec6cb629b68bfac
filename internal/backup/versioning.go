package backup

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// VersioningAPI reads a bucket's versioning state.
type VersioningAPI interface {
	GetBucketVersioning(ctx context.Context, in *s3.GetBucketVersioningInput, opts ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
}

// CheckVersioning fails unless versioning is Enabled on bucket. Without it
// every put replaces the item's only copy and a delete destroys it: the
// backup would hold no history at all, so writing is refused.
func CheckVersioning(ctx context.Context, client VersioningAPI, bucket string) error {
	out, err := client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil {
		return fmt.Errorf("read versioning of bucket %s: %w", bucket, err)
	}
	if out.Status != s3types.BucketVersioningStatusEnabled {
		state := string(out.Status)
		if state == "" {
			state = "never enabled"
		}
		return fmt.Errorf("bucket %s does not have versioning enabled (%s): the backup needs one version per change; "+
			"enable it with 'aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled'", bucket, state, bucket)
	}
	return nil
}
