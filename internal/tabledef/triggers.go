package tabledef

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Turning the stream on again is not enough for the restored table to be
// backed up: a new stream has no Lambda trigger. The definition records
// the event source mappings of the table's stream (the stream writer's and
// any other), and restore creates them on the new stream.

// EventSourceMapping is one Lambda function reading the table's stream,
// with the settings CreateEventSourceMapping takes (the Lambda API's
// names).
type EventSourceMapping struct {
	FunctionArn                    string            `json:"FunctionArn"`
	BatchSize                      *int32            `json:"BatchSize,omitempty"`
	MaximumBatchingWindowInSeconds *int32            `json:"MaximumBatchingWindowInSeconds,omitempty"`
	ParallelizationFactor          *int32            `json:"ParallelizationFactor,omitempty"`
	MaximumRetryAttempts           *int32            `json:"MaximumRetryAttempts,omitempty"`
	MaximumRecordAgeInSeconds      *int32            `json:"MaximumRecordAgeInSeconds,omitempty"`
	BisectBatchOnFunctionError     bool              `json:"BisectBatchOnFunctionError,omitempty"`
	TumblingWindowInSeconds        *int32            `json:"TumblingWindowInSeconds,omitempty"`
	FunctionResponseTypes          []string          `json:"FunctionResponseTypes,omitempty"`
	DestinationConfig              *MappingOnFailure `json:"DestinationConfig,omitempty"`
	FilterCriteria                 json.RawMessage   `json:"FilterCriteria,omitempty"`
}

// MappingOnFailure is DestinationConfig with its OnFailure destination.
type MappingOnFailure struct {
	OnFailure struct {
		Destination string `json:"Destination"`
	} `json:"OnFailure"`
}

// LambdaReadAPI lists a stream's triggers (lambda:ListEventSourceMappings).
type LambdaReadAPI interface {
	ListEventSourceMappings(ctx context.Context, in *lambda.ListEventSourceMappingsInput, opts ...func(*lambda.Options)) (*lambda.ListEventSourceMappingsOutput, error)
}

// LambdaAPI creates them (lambda:CreateEventSourceMapping).
type LambdaAPI interface {
	CreateEventSourceMapping(ctx context.Context, in *lambda.CreateEventSourceMappingInput, opts ...func(*lambda.Options)) (*lambda.CreateEventSourceMappingOutput, error)
}

// readMappings lists the enabled event source mappings of streamArn.
func readMappings(ctx context.Context, api LambdaReadAPI, streamArn string) ([]EventSourceMapping, error) {
	var out []EventSourceMapping
	in := &lambda.ListEventSourceMappingsInput{EventSourceArn: aws.String(streamArn)}
	for range 1000 {
		page, err := api.ListEventSourceMappings(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, m := range page.EventSourceMappings {
			switch aws.ToString(m.State) {
			case "Enabled", "Enabling", "Creating", "Updating":
			default:
				continue
			}
			e := EventSourceMapping{FunctionArn: aws.ToString(m.FunctionArn), BatchSize: m.BatchSize, MaximumBatchingWindowInSeconds: m.MaximumBatchingWindowInSeconds,
				ParallelizationFactor: m.ParallelizationFactor, MaximumRetryAttempts: m.MaximumRetryAttempts, MaximumRecordAgeInSeconds: m.MaximumRecordAgeInSeconds,
				BisectBatchOnFunctionError: aws.ToBool(m.BisectBatchOnFunctionError), TumblingWindowInSeconds: m.TumblingWindowInSeconds}
			for _, t := range m.FunctionResponseTypes {
				e.FunctionResponseTypes = append(e.FunctionResponseTypes, string(t))
			}
			if d := m.DestinationConfig; d != nil && d.OnFailure != nil && aws.ToString(d.OnFailure.Destination) != "" {
				e.DestinationConfig = &MappingOnFailure{}
				e.DestinationConfig.OnFailure.Destination = aws.ToString(d.OnFailure.Destination)
			}
			if f := m.FilterCriteria; f != nil && len(f.Filters) > 0 {
				e.FilterCriteria, _ = compactJSON(f)
			}
			out = append(out, e)
		}
		if page.NextMarker == nil || aws.ToString(page.NextMarker) == aws.ToString(in.Marker) {
			break
		}
		in.Marker = page.NextMarker
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FunctionArn < out[j].FunctionArn })
	return out, nil
}

// createInput is the CreateEventSourceMapping request for the new stream:
// from TRIM_HORIZON, so no change made after the stream was turned on is
// missed.
func (m EventSourceMapping) createInput(streamArn string) (*lambda.CreateEventSourceMappingInput, error) {
	in := &lambda.CreateEventSourceMappingInput{FunctionName: aws.String(m.FunctionArn), EventSourceArn: aws.String(streamArn),
		StartingPosition: lambdatypes.EventSourcePositionTrimHorizon, BatchSize: m.BatchSize, MaximumBatchingWindowInSeconds: m.MaximumBatchingWindowInSeconds,
		ParallelizationFactor: m.ParallelizationFactor, MaximumRetryAttempts: m.MaximumRetryAttempts, MaximumRecordAgeInSeconds: m.MaximumRecordAgeInSeconds,
		TumblingWindowInSeconds: m.TumblingWindowInSeconds}
	if m.BisectBatchOnFunctionError {
		in.BisectBatchOnFunctionError = aws.Bool(true)
	}
	for _, t := range m.FunctionResponseTypes {
		in.FunctionResponseTypes = append(in.FunctionResponseTypes, lambdatypes.FunctionResponseType(t))
	}
	if d := m.DestinationConfig; d != nil {
		in.DestinationConfig = &lambdatypes.DestinationConfig{OnFailure: &lambdatypes.OnFailure{Destination: aws.String(d.OnFailure.Destination)}}
	}
	if len(m.FilterCriteria) > 0 {
		in.FilterCriteria = &lambdatypes.FilterCriteria{}
		if err := json.Unmarshal(m.FilterCriteria, in.FilterCriteria); err != nil {
			return nil, fmt.Errorf("FilterCriteria: %w", err)
		}
	}
	return in, nil
}

func mappingSet(ms []EventSourceMapping) map[string]string {
	return keyedJSON(ms, func(m *EventSourceMapping) string { k := "of " + m.FunctionArn; m.FunctionArn = ""; return k })
}
