package tabledef

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// DescribeAPI is every call Describe makes: the read permissions
// deploy/template.json grants the stream writer.
type DescribeAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	ListTagsOfResource(ctx context.Context, in *dynamodb.ListTagsOfResourceInput, opts ...func(*dynamodb.Options)) (*dynamodb.ListTagsOfResourceOutput, error)
	DescribeContinuousBackups(ctx context.Context, in *dynamodb.DescribeContinuousBackupsInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeContinuousBackupsOutput, error)
	ExtraAPI
}

// Describe reads the table's definition. DescribeTable must succeed; a
// failure of one of the other calls (no permission, an emulator without
// the action) leaves that part out and names it in Dynasnap.Unread, with
// the errors, each naming the permission, joined in partial. more reads
// the auto scaling and the stream's Lambda triggers (a nil client: that
// part is not read, and named in Unread).
func Describe(ctx context.Context, api DescribeAPI, more Services, table string) (d *Definition, partial error, err error) {
	out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return nil, nil, fmt.Errorf("describe table %s: %w", table, err)
	}
	in := Described{Table: out.Table}
	var errs []error
	if ttl, err := api.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)}); err == nil {
		in.TimeToLive = ttl.TimeToLiveDescription
		if in.TimeToLive == nil {
			in.TimeToLive = &types.TimeToLiveDescription{TimeToLiveStatus: types.TimeToLiveStatusDisabled}
		}
	} else {
		errs = append(errs, fmt.Errorf("describe time to live: %w", err))
	}
	if arn := aws.ToString(out.Table.TableArn); arn != "" {
		tags, err := listTags(ctx, api, arn)
		if err == nil {
			in.Tags, in.TagsRead = tags, true
		} else {
			errs = append(errs, fmt.Errorf("list tags: %w", err))
		}
	}
	if cb, err := api.DescribeContinuousBackups(ctx, &dynamodb.DescribeContinuousBackupsInput{TableName: aws.String(table)}); err == nil {
		in.Backups = cb.ContinuousBackupsDescription
		if in.Backups == nil {
			in.Backups = &types.ContinuousBackupsDescription{}
		}
	} else {
		errs = append(errs, fmt.Errorf("describe continuous backups: %w", err))
	}
	extra, e := readExtra(ctx, api, more, out.Table)
	if e != nil {
		errs = append(errs, e)
	}
	in.Extra = extra
	d = FromDescribed(in)
	d.Dynasnap.RecordedAt = time.Now().UTC()
	return d, errors.Join(errs...), nil
}

func listTags(ctx context.Context, api DescribeAPI, arn string) ([]types.Tag, error) {
	var out []types.Tag
	var next *string
	for range 1000 {
		page, err := api.ListTagsOfResource(ctx, &dynamodb.ListTagsOfResourceInput{ResourceArn: aws.String(arn), NextToken: next})
		if err != nil {
			return nil, err
		}
		out = append(out, page.Tags...)
		if page.NextToken == nil || aws.ToString(page.NextToken) == aws.ToString(next) {
			return out, nil
		}
		next = page.NextToken
	}
	return out, nil
}

// IsAccessDenied reports whether err is a missing permission.
func IsAccessDenied(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "UnauthorizedOperation":
			return true
		}
	}
	return false
}

// Services are the other AWS APIs Describe reads.
type Services struct {
	Scaling ScalingReadAPI
	Lambda  LambdaReadAPI
}
