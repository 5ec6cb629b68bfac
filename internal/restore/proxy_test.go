package restore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/testsupport/faultproxy"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// faultProxy sits between the restore and dynalite, which never throttles
// by itself. For BatchWriteItem it either answers
// ProvisionedThroughputExceededException without forwarding, or forwards
// only the first part of the batch and returns the rest as UnprocessedItems,
// as DynamoDB does under load.
type faultProxy struct {
	target            string
	throttle, partial float64
	throttled         atomic.Int64
	withheld          atomic.Int64
	forwarded         atomic.Int64
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var withheld map[string][]json.RawMessage
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".BatchWriteItem") {
		switch x := rand.Float64(); {
		case x < p.throttle:
			p.throttled.Add(1)
			faultproxy.WriteDynamoDBJSON(w, http.StatusBadRequest, []byte(`{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected by the test proxy"}`))
			return
		case x < p.throttle+p.partial:
			var in struct {
				RequestItems map[string][]json.RawMessage
			}
			if err := json.Unmarshal(body, &in); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			withheld = map[string][]json.RawMessage{}
			for table, reqs := range in.RequestItems {
				keep := rand.IntN(len(reqs)) // 0..n-1: at least one withheld
				withheld[table] = reqs[keep:]
				in.RequestItems[table] = reqs[:keep]
				p.withheld.Add(int64(len(reqs) - keep))
				if keep == 0 {
					delete(in.RequestItems, table)
				}
			}
			if len(in.RequestItems) == 0 {
				out, _ := json.Marshal(map[string]any{"UnprocessedItems": withheld})
				faultproxy.WriteDynamoDBJSON(w, http.StatusOK, out)
				return
			}
			body, _ = json.Marshal(in)
		}
	}
	p.forwarded.Add(1)
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	req.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if withheld != nil && resp.StatusCode == http.StatusOK {
		var o map[string]any
		if err := json.Unmarshal(out, &o); err == nil {
			un, _ := o["UnprocessedItems"].(map[string]any)
			if un == nil {
				un = map[string]any{}
			}
			for t, reqs := range withheld {
				un[t] = reqs
			}
			o["UnprocessedItems"] = un
			out, _ = json.Marshal(o)
		}
	}
	faultproxy.WriteDynamoDBJSON(w, resp.StatusCode, out)
}

// proxiedDynamoDB returns a DynamoDB client whose requests go through p.
func proxiedDynamoDB(t *testing.T, p *faultProxy) *dynamodb.Client {
	testenv.Clients(t) // loads the stack's environment, or skips
	p.target = strings.TrimRight(getenv(t, "AWS_ENDPOINT_URL_DYNAMODB"), "/")
	srv := httptest.NewServer(p) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	c, err := awsconf.Load(context.Background(), awsconf.Options{EndpointURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c.DynamoDB()
}

// TestThrottlingAndUnprocessedThroughProxy: with a third of the calls
// throttled and another third half processed, every item still arrives
// exactly as in the snapshot, and the backoff is observed.
func TestThrottlingAndUnprocessedThroughProxy(t *testing.T) {
	ctx := context.Background()
	p := &faultProxy{throttle: 0.3, partial: 0.3}
	pddb := proxiedDynamoDB(t, p)
	ddb := testenv.DynamoDB(t)
	const n = 3000
	files := make([][]item.Item, 6)
	for i := range n {
		files[i%6] = append(files[i%6], numItem(i, fmt.Sprint("value ", i)))
	}
	s := writeSnapshot(t, t.TempDir(), pkSchema, files)
	table := newTable(t, ddb, pkSchema)
	w := &Writer{Client: pddb, Table: table, Workers: 16, BackoffBase: 5 * time.Millisecond, BackoffCap: 200 * time.Millisecond}
	res, err := FromSnapshot(ctx, s, w, SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("proxy: %d calls throttled, %d requests withheld, %d forwarded; writer: %d calls, %d unprocessed retried, %d throttled retried, %d backoffs (%v)",
		p.throttled.Load(), p.withheld.Load(), p.forwarded.Load(), res.Requests, res.Unprocessed, res.Throttled, res.Backoffs, res.BackoffTime)
	if p.throttled.Load() == 0 || p.withheld.Load() == 0 {
		t.Fatal("the proxy injected no faults")
	}
	if res.Throttled != p.throttled.Load() || res.Unprocessed != p.withheld.Load() {
		t.Fatalf("writer saw %d throttles and %d unprocessed; proxy injected %d and %d", res.Throttled, res.Unprocessed, p.throttled.Load(), p.withheld.Load())
	}
	if res.Backoffs < res.Throttled+1 || res.BackoffTime <= 0 {
		t.Fatalf("backoff not observed: %d backoffs, %v", res.Backoffs, res.BackoffTime)
	}
	if res.Puts != n {
		t.Fatalf("writer counted %d puts, want %d", res.Puts, n)
	}
	if r := mustVerify(t, ctx, s, ddb, table, pkSchema); !r.Equal() || r.TableItems != n {
		t.Fatalf("verify: %+v", r)
	}
}

func getenv(t *testing.T, k string) string {
	v := os.Getenv(k)
	if v == "" {
		t.Skipf("%s not set", k)
	}
	return v
}
