package enroll

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"
)

// LambdaAPI is the event source mapping calls the enroller makes.
type LambdaAPI interface {
	// ListEventSourceMappings lists function's mappings (of eventSourceArn
	// only, if set), every page.
	ListEventSourceMappings(ctx context.Context, function, eventSourceArn string) ([]Mapping, error)
	CreateEventSourceMapping(ctx context.Context, in CreateMappingInput) (Mapping, error)
	// DeleteEventSourceMapping removes a mapping; ErrNoMapping when it is
	// gone already.
	DeleteEventSourceMapping(ctx context.Context, uuid string) error
}

// ErrNoMapping is a mapping that does not exist (ResourceNotFoundException).
var ErrNoMapping = errors.New("no such event source mapping")

// Mapping is an event source mapping, as Lambda describes it.
type Mapping struct {
	UUID           string `json:"UUID"`
	EventSourceArn string `json:"EventSourceArn"`
	FunctionArn    string `json:"FunctionArn"`
	State          string `json:"State"`
}

// MappingSettings are the one-table template's (deploy/template.json,
// StreamMapping): TRIM_HORIZON, partial batch responses, bisect on error,
// a batching window of 1 s, parallelization 1, failures to the queue.
type MappingSettings struct {
	BatchSize            int32
	MaximumRetryAttempts int32
	// OnFailure is the failure queue's ARN (the stack's DLQ).
	OnFailure string
}

// CreateMappingInput is the body of CreateEventSourceMapping
// (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html).
type CreateMappingInput struct {
	FunctionName                   string             `json:"FunctionName"`
	EventSourceArn                 string             `json:"EventSourceArn"`
	StartingPosition               string             `json:"StartingPosition"`
	BatchSize                      int32              `json:"BatchSize,omitempty"`
	MaximumBatchingWindowInSeconds int32              `json:"MaximumBatchingWindowInSeconds"`
	FunctionResponseTypes          []string           `json:"FunctionResponseTypes"`
	BisectBatchOnFunctionError     bool               `json:"BisectBatchOnFunctionError"`
	MaximumRetryAttempts           int32              `json:"MaximumRetryAttempts"`
	ParallelizationFactor          int32              `json:"ParallelizationFactor"`
	DestinationConfig              *DestinationConfig `json:"DestinationConfig,omitempty"`
	Enabled                        bool               `json:"Enabled"`
}

// DestinationConfig is where failed batches' descriptions go.
type DestinationConfig struct {
	OnFailure struct {
		Destination string `json:"Destination"`
	} `json:"OnFailure"`
}

func (s MappingSettings) input(function, streamArn string) CreateMappingInput {
	in := CreateMappingInput{FunctionName: function, EventSourceArn: streamArn, StartingPosition: "TRIM_HORIZON",
		BatchSize: s.BatchSize, MaximumBatchingWindowInSeconds: 1, FunctionResponseTypes: []string{"ReportBatchItemFailures"},
		BisectBatchOnFunctionError: true, MaximumRetryAttempts: s.MaximumRetryAttempts, ParallelizationFactor: 1, Enabled: true}
	if in.BatchSize == 0 {
		in.BatchSize = 100
	}
	if s.OnFailure != "" {
		in.DestinationConfig = &DestinationConfig{}
		in.DestinationConfig.OnFailure.Destination = s.OnFailure
	}
	return in
}

// LambdaClient calls Lambda's REST API signed with SigV4: the module
// carries no Lambda client for three calls.
type LambdaClient struct {
	// Endpoint is https://lambda.REGION.amazonaws.com, or a local one
	// (AWS_ENDPOINT_URL_LAMBDA).
	Endpoint string
	Config   aws.Config
	HTTP     *http.Client
}

const mappingsPath = "/2015-03-31/event-source-mappings/"

func (c *LambdaClient) ListEventSourceMappings(ctx context.Context, function, eventSourceArn string) ([]Mapping, error) {
	var all []Mapping
	marker := ""
	for {
		q := url.Values{}
		if function != "" {
			q.Set("FunctionName", function)
		}
		if eventSourceArn != "" {
			q.Set("EventSourceArn", eventSourceArn)
		}
		if marker != "" {
			q.Set("Marker", marker)
		}
		var out struct {
			EventSourceMappings []Mapping `json:"EventSourceMappings"`
			NextMarker          *string   `json:"NextMarker"`
		}
		if err := c.do(ctx, http.MethodGet, mappingsPath, q, nil, &out); err != nil {
			return nil, fmt.Errorf("ListEventSourceMappings: %w", err)
		}
		all = append(all, out.EventSourceMappings...)
		if out.NextMarker == nil || *out.NextMarker == "" {
			return all, nil
		}
		marker = *out.NextMarker
	}
}

func (c *LambdaClient) CreateEventSourceMapping(ctx context.Context, in CreateMappingInput) (Mapping, error) {
	var out Mapping
	if err := c.do(ctx, http.MethodPost, mappingsPath, nil, in, &out); err != nil {
		return Mapping{}, fmt.Errorf("CreateEventSourceMapping %s: %w", in.EventSourceArn, err)
	}
	return out, nil
}

func (c *LambdaClient) DeleteEventSourceMapping(ctx context.Context, uuid string) error {
	if err := c.do(ctx, http.MethodDelete, mappingsPath+url.PathEscape(uuid), nil, nil, nil); err != nil {
		return fmt.Errorf("DeleteEventSourceMapping %s: %w", uuid, err)
	}
	return nil
}

// apiError is a Lambda error answer.
type apiError struct {
	status       int
	code, detail string
}

func (e *apiError) Error() string                 { return fmt.Sprintf("%s (HTTP %d): %s", e.code, e.status, e.detail) }
func (e *apiError) ErrorCode() string             { return e.code }
func (e *apiError) ErrorMessage() string          { return e.detail }
func (e *apiError) ErrorFault() smithy.ErrorFault { return smithy.FaultUnknown }

func (c *LambdaClient) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	u := strings.TrimRight(c.Endpoint, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Config.Credentials == nil {
		return errors.New("no AWS credentials")
	}
	creds, err := c.Config.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "lambda", c.Config.Region, time.Now()); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Type    string `json:"Type"`
			Message string `json:"Message"`
			Lower   string `json:"message"`
		}
		json.Unmarshal(raw, &e)
		code := resp.Header.Get("X-Amzn-ErrorType")
		code, _, _ = strings.Cut(code, ":")
		if code == "" {
			code = e.Type
		}
		ae := &apiError{status: resp.StatusCode, code: code, detail: e.Message + e.Lower}
		if resp.StatusCode == http.StatusNotFound || code == "ResourceNotFoundException" {
			return fmt.Errorf("%w: %v", ErrNoMapping, ae)
		}
		return ae
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("answer: %w", err)
		}
	}
	return nil
}
