package status

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

func TestThresholds(t *testing.T) {
	d := func(x time.Duration) *Duration { v := Duration(x); return &v }
	ok := &Result{Passed: true, Age: Duration(time.Hour)}
	for _, c := range []struct {
		name string
		ts   TableStatus
		th   Thresholds
		want []string
	}{
		{"within", TableStatus{Lag: d(10 * time.Minute), SnapshotAge: d(time.Hour), Drill: ok}, Thresholds{MaxLag: 30 * time.Minute, MaxSnapshotAge: 2 * time.Hour, MaxDrillAge: 2 * time.Hour}, nil},
		{"lag", TableStatus{Lag: d(time.Hour)}, Thresholds{MaxLag: 30 * time.Minute}, []string{"lag 1h0m0s over --max-lag 30m0s"}},
		{"nothing written", TableStatus{}, Thresholds{MaxLag: 30 * time.Minute}, []string{"no change written"}},
		{"never snapshotted", TableStatus{Lag: d(0)}, Thresholds{MaxSnapshotAge: time.Hour}, []string{"never snapshotted"}},
		{"old snapshot", TableStatus{SnapshotAge: d(3 * time.Hour)}, Thresholds{MaxSnapshotAge: time.Hour}, []string{"snapshot age 3h0m0s over --max-snapshot-age 1h0m0s"}},
		{"drill failed", TableStatus{Drill: &Result{Passed: false}}, Thresholds{MaxDrillAge: time.Hour}, []string{"the newest drill failed"}},
		{"never audited", TableStatus{}, Thresholds{MaxAuditAge: time.Hour}, []string{"never audited"}},
		{"checks off", TableStatus{}, Thresholds{}, nil},
	} {
		ts := c.ts
		ts.check(c.th)
		if strings.Join(ts.Breaks, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: breaks %q, want %q", c.name, ts.Breaks, c.want)
		}
	}
	b, _ := json.Marshal(Duration(90 * time.Minute))
	if string(b) != `{"text":"1h30m0s","seconds":5400}` {
		t.Errorf("Duration JSON %s", b)
	}
}

// The failure queue's depth: one GetQueueAttributes in SQS's JSON
// protocol, as its API reference has it, signed.
func TestSQSQueueDepth(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &got)
		if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("X-Amz-Target") != "AmazonSQS.GetQueueAttributes" ||
			r.Header.Get("Content-Type") != "application/x-amz-json-1.0" || !strings.Contains(r.Header.Get("Authorization"), "/sqs/aws4_request") {
			http.Error(w, `{"__type":"com.amazonaws.sqs#InvalidAction"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		io.WriteString(w, `{"Attributes":{"ApproximateNumberOfMessages":"3","ApproximateNumberOfMessagesNotVisible":"1"}}`)
	}))
	defer srv.Close()
	q := SQSQueue{URL: srv.URL + "/123456789012/dynasnap-failures",
		Config: aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")}}
	n, err := q.Depth(t.Context())
	if err != nil || n != 4 {
		t.Fatalf("depth %d, %v", n, err)
	}
	if got["QueueUrl"] != q.URL || len(got) != 2 {
		t.Errorf("request %v", got)
	}
	names, _ := got["AttributeNames"].([]any)
	if len(names) != 2 || names[0] != "ApproximateNumberOfMessages" || names[1] != "ApproximateNumberOfMessagesNotVisible" {
		t.Errorf("AttributeNames %v", got["AttributeNames"])
	}
	if _, err := (SQSQueue{URL: "not a url", Config: q.Config}).Depth(t.Context()); err == nil {
		t.Error("a bad queue URL is read")
	}
}
