// Package stream turns a batch of DynamoDB Streams records into versions in
// the backup bucket: the logic of the dynasnap-stream Lambda, testable
// without Lambda.
package stream

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// Event is a DynamoDB Streams batch as Lambda delivers it. The images stay
// raw JSON and are decoded with our own codec, so numbers (38 digits) and
// binaries stay exact; aws-lambda-go's types would be fine for the envelope,
// but its attribute values are a different type from the SDK's.
type Event struct {
	Records []Record `json:"Records"`
}

// Record is one stream record.
type Record struct {
	EventID        string       `json:"eventID"`
	EventName      string       `json:"eventName"` // INSERT, MODIFY, REMOVE
	EventSource    string       `json:"eventSource"`
	EventSourceARN string       `json:"eventSourceARN"`
	AWSRegion      string       `json:"awsRegion"`
	Change         StreamRecord `json:"dynamodb"`
	// UserIdentity is set on a REMOVE that TTL made, and only there.
	UserIdentity *UserIdentity `json:"userIdentity,omitempty"`
}

// UserIdentity says who made a change; DynamoDB Streams sets it only on the
// deletes TTL makes: {"type":"Service","principalId":"dynamodb.amazonaws.com"}.
type UserIdentity struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
}

// IsTTL reports whether the record is a delete made by DynamoDB's TTL
// process rather than by a caller.
func (r *Record) IsTTL() bool {
	u := r.UserIdentity
	return r.EventName == "REMOVE" && u != nil && u.Type == "Service" && u.PrincipalID == "dynamodb.amazonaws.com"
}

// StreamRecord is the "dynamodb" part of a record.
type StreamRecord struct {
	ApproximateCreationDateTime json.Number     `json:"ApproximateCreationDateTime"`
	Keys                        json.RawMessage `json:"Keys"`
	NewImage                    json.RawMessage `json:"NewImage"`
	OldImage                    json.RawMessage `json:"OldImage"`
	SequenceNumber              string          `json:"SequenceNumber"`
	SizeBytes                   int64           `json:"SizeBytes"`
	StreamViewType              string          `json:"StreamViewType"`
}

// TableFromARN returns the table name in a stream ARN such as
// arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2024-01-01T00:00:00.000.
func TableFromARN(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return "", fmt.Errorf("event source ARN %q is not an ARN", arn)
	}
	res, ok := strings.CutPrefix(parts[5], "table/")
	if !ok {
		return "", fmt.Errorf("event source ARN %q names no table", arn)
	}
	name, _, _ := strings.Cut(res, "/")
	if name == "" {
		return "", fmt.Errorf("event source ARN %q names no table", arn)
	}
	return name, nil
}

// streamLabelLayout is the form of a stream label, the time the stream was
// enabled: arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/2026-06-01T00:00:00.000
// (time.Parse takes the fraction of a second without the layout naming it).
const streamLabelLayout = "2006-01-02T15:04:05"

// StreamLabelTime returns the time in a stream ARN's label (its last path
// element), which orders the streams of one table: a table deleted and
// created again, or a stream disabled and enabled again, gets a new label.
func StreamLabelTime(arn string) (time.Time, error) {
	_, label, ok := strings.Cut(arn, "/stream/")
	if !ok || strings.Contains(label, "/") {
		return time.Time{}, fmt.Errorf("event source ARN %q has no stream label", arn)
	}
	t, err := time.Parse(streamLabelLayout, label)
	if err != nil {
		return time.Time{}, fmt.Errorf("stream label %q of %q is not a time", label, arn)
	}
	return t, nil
}

// creationTime parses ApproximateCreationDateTime: epoch seconds, possibly
// with a fraction.
func creationTime(n json.Number) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return time.Time{}, fmt.Errorf("ApproximateCreationDateTime %q is not a number of seconds", n)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// hasImage reports whether a raw image is present (absent or JSON null is not).
func hasImage(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null"
}
