package status

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SQSQueue reads the depth of the writer's failure queue with one
// GetQueueAttributes call (SQS's JSON protocol, signed with the default
// credential chain): the module carries no SQS client for one call.
type SQSQueue struct {
	URL    string // the queue URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME
	Config aws.Config
	Client *http.Client // nil: http.DefaultClient
}

// Depth is ApproximateNumberOfMessages plus ApproximateNumberOfMessagesNotVisible:
// failed batches waiting, and those being looked at.
func (q SQSQueue) Depth(ctx context.Context) (int, error) {
	u, err := url.Parse(q.URL)
	if err != nil || u.Host == "" {
		return 0, fmt.Errorf("failure queue %q is not a queue URL", q.URL)
	}
	body, _ := json.Marshal(map[string]any{"QueueUrl": q.URL,
		"AttributeNames": []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.Scheme+"://"+u.Host+"/", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS.GetQueueAttributes")
	if q.Config.Credentials == nil {
		return 0, fmt.Errorf("no AWS credentials to read %s", q.URL)
	}
	creds, err := q.Config.Credentials.Retrieve(ctx)
	if err != nil {
		return 0, fmt.Errorf("credentials for %s: %w", q.URL, err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sqs", q.Config.Region, time.Now()); err != nil {
		return 0, fmt.Errorf("sign GetQueueAttributes: %w", err)
	}
	c := q.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GetQueueAttributes %s: %w", q.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GetQueueAttributes %s: HTTP %d: %s", q.URL, resp.StatusCode, bytes.TrimSpace(raw))
	}
	var out struct {
		Attributes map[string]string `json:"Attributes"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return 0, fmt.Errorf("GetQueueAttributes %s: %w", q.URL, err)
	}
	n := 0
	for _, k := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"} {
		v, err := strconv.Atoi(out.Attributes[k])
		if err != nil {
			return 0, fmt.Errorf("GetQueueAttributes %s: %s is %q", q.URL, k, out.Attributes[k])
		}
		n += v
	}
	return n, nil
}
