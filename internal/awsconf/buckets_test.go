package awsconf_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/testsupport/regionproxy"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// A bucket in another region: one HeadBucket however many ask at once, a
// client per region, and a 301 that still happens (the configured-region
// client) is an error naming the bucket's region.
func TestS3ForFindsTheBucketRegionOnce(t *testing.T) {
	c := testenv.Clients(t)
	bucket, local := testenv.Bucket(t, c, true), testenv.Bucket(t, c, false)
	p := regionproxy.New(t, regionproxy.Config{Target: os.Getenv("AWS_ENDPOINT_URL_S3"), Regions: map[string]string{bucket: "eu-west-1"}})
	t.Setenv("AWS_ENDPOINT_URL_S3", p.URL)
	ctx := context.Background()
	cs, err := awsconf.Load(ctx, awsconf.Options{Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	clients := make([]*s3.Client, 16)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i], _ = cs.S3For(ctx, bucket)
		}()
	}
	wg.Wait()
	for _, cl := range clients {
		if cl != clients[0] || cl.Options().Region != "eu-west-1" {
			t.Fatalf("clients differ or sign for %s", cl.Options().Region)
		}
	}
	if _, err := clients[0].ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	// A local server's HeadBucket names no region: the configured one.
	if cl, _ := cs.S3For(ctx, local); cl.Options().Region != "us-east-1" || cl != cs.S3() {
		t.Errorf("bucket without a region header: client for %s", cl.Options().Region)
	}
	if st := p.Stats(); st.HeadBucket[bucket] != 1 || st.HeadBucket[local] != 1 || cs.RegionLookups(bucket) != 1 {
		t.Errorf("HeadBucket calls %v, lookups %d; want one per bucket", st.HeadBucket, cs.RegionLookups(bucket))
	}
	_, err = cs.S3().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err == nil || !strings.Contains(err.Error(), "bucket "+bucket+" is in eu-west-1, not us-east-1") {
		t.Errorf("a 301: %v", err)
	}
}

func TestExpectedBucketOwnerIsAnAccountID(t *testing.T) {
	_, err := awsconf.Load(context.Background(), awsconf.Options{Region: "us-east-1", ExpectedBucketOwner: "acme"})
	if err == nil || !strings.Contains(err.Error(), "12-digit") {
		t.Errorf("--expected-bucket-owner acme: %v", err)
	}
}
