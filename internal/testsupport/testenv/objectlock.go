package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/dynasnap/dynasnap/internal/awsconf"
)

// LockedBucket creates a fresh bucket with Object Lock enabled (and so
// versioning) and a default retention of GOVERNANCE for one day, as
// deploy/template.json makes it with ObjectLockMode set. Its locked
// versions cannot be deleted, so the bucket is left behind.
func LockedBucket(t testing.TB, c *awsconf.Clients) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := Name("locked")
	cl := c.S3()
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatalf("create bucket %s with Object Lock: %v", name, err)
	}
	_, err := cl.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: aws.String(name),
		ObjectLockConfiguration: &s3types.ObjectLockConfiguration{ObjectLockEnabled: s3types.ObjectLockEnabledEnabled,
			Rule: &s3types.ObjectLockRule{DefaultRetention: &s3types.DefaultRetention{Mode: s3types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1)}}}})
	if err != nil {
		t.Fatalf("default retention on %s: %v", name, err)
	}
	v, err := cl.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(name)})
	if err != nil || v.Status != s3types.BucketVersioningStatusEnabled {
		t.Fatalf("bucket %s with Object Lock: versioning %v, %v", name, v, err)
	}
	return name
}
