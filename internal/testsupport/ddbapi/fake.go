package ddbapi

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// NoSettings, embedded in a unit test's fake DynamoDB client, answers the
// settings calls of tabledef.Describe and tabledef.AfterLoad for a table
// that has none of them: no resource policy, Contributor Insights off, no
// Kinesis destination; updates succeed and change nothing.
type NoSettings struct{}

func (NoSettings) GetResourcePolicy(context.Context, *dynamodb.GetResourcePolicyInput, ...func(*dynamodb.Options)) (*dynamodb.GetResourcePolicyOutput, error) {
	return nil, &types.PolicyNotFoundException{Message: aws.String("no policy (fake)")}
}

func (NoSettings) DescribeContributorInsights(_ context.Context, in *dynamodb.DescribeContributorInsightsInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeContributorInsightsOutput, error) {
	return &dynamodb.DescribeContributorInsightsOutput{TableName: in.TableName, IndexName: in.IndexName, ContributorInsightsStatus: types.ContributorInsightsStatusDisabled}, nil
}

func (NoSettings) DescribeKinesisStreamingDestination(_ context.Context, in *dynamodb.DescribeKinesisStreamingDestinationInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeKinesisStreamingDestinationOutput, error) {
	return &dynamodb.DescribeKinesisStreamingDestinationOutput{TableName: in.TableName}, nil
}

func (NoSettings) UpdateTable(context.Context, *dynamodb.UpdateTableInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTableOutput, error) {
	return &dynamodb.UpdateTableOutput{}, nil
}

func (NoSettings) PutResourcePolicy(context.Context, *dynamodb.PutResourcePolicyInput, ...func(*dynamodb.Options)) (*dynamodb.PutResourcePolicyOutput, error) {
	return &dynamodb.PutResourcePolicyOutput{}, nil
}

func (NoSettings) UpdateContributorInsights(context.Context, *dynamodb.UpdateContributorInsightsInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateContributorInsightsOutput, error) {
	return &dynamodb.UpdateContributorInsightsOutput{}, nil
}

func (NoSettings) EnableKinesisStreamingDestination(context.Context, *dynamodb.EnableKinesisStreamingDestinationInput, ...func(*dynamodb.Options)) (*dynamodb.EnableKinesisStreamingDestinationOutput, error) {
	return &dynamodb.EnableKinesisStreamingDestinationOutput{}, nil
}

// NoScaling is a fake Application Auto Scaling client for a table without
// auto scaling: no targets, no policies.
type NoScaling struct{}

func (NoScaling) DescribeScalableTargets(context.Context, *aas.DescribeScalableTargetsInput, ...func(*aas.Options)) (*aas.DescribeScalableTargetsOutput, error) {
	return &aas.DescribeScalableTargetsOutput{}, nil
}

func (NoScaling) DescribeScalingPolicies(context.Context, *aas.DescribeScalingPoliciesInput, ...func(*aas.Options)) (*aas.DescribeScalingPoliciesOutput, error) {
	return &aas.DescribeScalingPoliciesOutput{}, nil
}

// NoLambda is a fake Lambda client for a stream without triggers.
type NoLambda struct{}

func (NoLambda) ListEventSourceMappings(context.Context, *lambda.ListEventSourceMappingsInput, ...func(*lambda.Options)) (*lambda.ListEventSourceMappingsOutput, error) {
	return &lambda.ListEventSourceMappingsOutput{}, nil
}
