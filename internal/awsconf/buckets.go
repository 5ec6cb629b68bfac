package awsconf

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// A bucket lives in one region, and S3 answers a request signed for another
// with 301 PermanentRedirect, which the SDK does not follow. So every bucket
// gets a client for its own region: HeadBucket, which names the bucket's
// region in x-amz-bucket-region from any region and whether or not the
// caller may use the bucket, finds it once per run.

// regionCache is bucket -> region and region -> client, shared by the
// default and the source identity (the region does not depend on who asks).
type regionCache struct {
	mu      sync.Mutex
	buckets map[string]*regionLookup
	lookups map[string]int // HeadBucket calls per bucket, for tests
}

type regionLookup struct {
	done   chan struct{}
	region string
}

// S3For returns the S3 client for bucket: one signed for the bucket's
// region, found by one HeadBucket per bucket per run (the configured region
// when the answer names none, as local servers' do). Every request it makes
// carries x-amz-expected-bucket-owner when --expected-bucket-owner is set.
// The error is only ever the context's.
func (c *Clients) S3For(ctx context.Context, bucket string) (*s3.Client, error) {
	if bucket == "" {
		return c.S3(), nil
	}
	region, err := c.bucketRegion(ctx, bucket)
	if err != nil {
		return nil, err
	}
	return c.s3In(region), nil
}

// BucketRegion is the region S3For uses for bucket.
func (c *Clients) BucketRegion(ctx context.Context, bucket string) (string, error) {
	return c.bucketRegion(ctx, bucket)
}

// RegionLookups reports how many HeadBucket calls looked up bucket's region.
func (c *Clients) RegionLookups(bucket string) int {
	c.cache.mu.Lock()
	defer c.cache.mu.Unlock()
	return c.cache.lookups[bucket]
}

func (c *Clients) bucketRegion(ctx context.Context, bucket string) (string, error) {
	rc := c.cache
	rc.mu.Lock()
	l, ok := rc.buckets[bucket]
	if !ok {
		l = &regionLookup{done: make(chan struct{})}
		rc.buckets[bucket] = l
		rc.lookups[bucket]++
	}
	rc.mu.Unlock()
	if ok {
		select {
		case <-l.done:
			return l.region, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	region, err := c.lookupRegion(ctx, bucket)
	if err != nil {
		// Cancelled: let a later caller look again.
		rc.mu.Lock()
		delete(rc.buckets, bucket)
		rc.mu.Unlock()
		close(l.done)
		return "", err
	}
	l.region = region
	close(l.done)
	return region, nil
}

// lookupRegion asks HeadBucket. Any answer that names a region settles it,
// whatever its status; one that does not (a local server, a network error,
// a missing bucket) leaves the configured region, and the command's own
// requests then report what is wrong, as they did before.
func (c *Clients) lookupRegion(ctx context.Context, bucket string) (string, error) {
	out, err := c.s3In(c.Config.Region).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		if r := aws.ToString(out.BucketRegion); r != "" {
			return r, nil
		}
		return c.Config.Region, nil
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if r := re.Response.Header.Get("X-Amz-Bucket-Region"); r != "" {
			return r, nil
		}
	}
	return c.Config.Region, nil
}

// s3In returns the client signed for region, one per region.
func (c *Clients) s3In(region string) *s3.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.byRegion[region]; ok {
		return cl
	}
	cl := c.newS3(region)
	c.byRegion[region] = cl
	return cl
}

// ExpectedBucketOwner is the account every S3 request of c must find
// owning its bucket ("" for none): code that sends S3 requests of its own
// (internal/fastget's lean GETs) signs the same header.
func (c *Clients) ExpectedBucketOwner() string { return c.opts.ExpectedBucketOwner }

// bucketMiddleware adds x-amz-expected-bucket-owner to every request (in
// the Build step, so it is signed) and turns the two answers a user cannot
// act on as they come into errors that say what happened: a 403 under that
// header, and a 301 to another region.
func bucketMiddleware(owner, region string) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		if owner != "" {
			if err := st.Build.Add(middleware.BuildMiddlewareFunc("dynasnapExpectedBucketOwner",
				func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
					if req, ok := in.Request.(*smithyhttp.Request); ok {
						req.Header.Set("X-Amz-Expected-Bucket-Owner", owner)
					}
					return next.HandleBuild(ctx, in)
				}), middleware.After); err != nil {
				return err
			}
		}
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("dynasnapBucketErrors",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(ctx, in)
				if err == nil {
					return out, md, nil
				}
				var re *awshttp.ResponseError
				if !errors.As(err, &re) || re.Response == nil {
					return out, md, err
				}
				bucket := inputBucket(in.Parameters)
				switch re.HTTPStatusCode() {
				case http.StatusMovedPermanently:
					where := re.Response.Header.Get("X-Amz-Bucket-Region")
					if where == "" {
						where = "another region"
					}
					return out, md, fmt.Errorf("bucket %s is in %s, not %s, and S3 does not follow its redirect (PermanentRedirect): %w", bucket, where, region, err)
				case http.StatusForbidden:
					if owner != "" && !isArchivedError(err) {
						return out, md, fmt.Errorf("access to bucket %s denied with --expected-bucket-owner %s: the bucket belongs to another account, or this identity may not use it: %w", bucket, owner, err)
					}
				}
				return out, md, err
			}), middleware.After)
	}
}

// isArchivedError is S3's 403 for a version in an archive storage class,
// which has nothing to do with the owner.
func isArchivedError(err error) bool {
	var ae interface{ ErrorCode() string }
	return errors.As(err, &ae) && ae.ErrorCode() == "InvalidObjectState"
}

// inputBucket reads the Bucket field every bucket operation's input has.
func inputBucket(params any) string {
	v := reflect.ValueOf(params)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return "?"
	}
	f := v.FieldByName("Bucket")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() || f.Elem().Kind() != reflect.String {
		return "?"
	}
	return f.Elem().String()
}
