package s3source

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/dynasnap/dynasnap/internal/history"
)

var _ history.LifecycleReader = (*Source)(nil)

// Lifecycle reads the bucket's lifecycle rules (GetBucketLifecycleConfiguration):
// history.ErrNoLifecycle when there are none.
func (s *Source) Lifecycle(ctx context.Context) ([]history.LifecycleRule, error) {
	out, err := s.client.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchLifecycleConfiguration" {
			return nil, history.ErrNoLifecycle
		}
		return nil, fmt.Errorf("get lifecycle configuration of bucket %s: %w", s.bucket, err)
	}
	return Rules(out.Rules), nil
}

// Rules converts the SDK's rules.
func Rules(in []types.LifecycleRule) []history.LifecycleRule {
	var rules []history.LifecycleRule
	for _, r := range in {
		x := history.LifecycleRule{ID: aws.ToString(r.ID), Enabled: r.Status == types.ExpirationStatusEnabled,
			Prefix: aws.ToString(r.Prefix)} //nolint:staticcheck // the deprecated top-level Prefix is still accepted
		if f := r.Filter; f != nil {
			if f.Prefix != nil {
				x.Prefix = *f.Prefix
			}
			if f.Tag != nil || f.ObjectSizeGreaterThan != nil || f.ObjectSizeLessThan != nil {
				x.Conditional = true
			}
			if a := f.And; a != nil {
				if a.Prefix != nil {
					x.Prefix = *a.Prefix
				}
				if len(a.Tags) > 0 || a.ObjectSizeGreaterThan != nil || a.ObjectSizeLessThan != nil {
					x.Conditional = true
				}
			}
		}
		if n := r.NoncurrentVersionExpiration; n != nil {
			x.NoncurrentSet = true
			x.NoncurrentDays = aws.ToInt32(n.NoncurrentDays)
			x.NewerNoncurrent = aws.ToInt32(n.NewerNoncurrentVersions)
		}
		if e := r.Expiration; e != nil {
			x.ExpirationDays = aws.ToInt32(e.Days)
			if e.Date != nil {
				x.ExpirationDate = *e.Date
			}
			x.ExpiredObjectDeleteMarker = aws.ToBool(e.ExpiredObjectDeleteMarker)
		}
		rules = append(rules, x)
	}
	return rules
}
