package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/stream"
	"github.com/dynasnap/dynasnap/internal/testsupport/backuptest"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// The writers on a bucket with Object Lock and a default retention
// (GOVERNANCE, 1 day): backfill, then stream changes (MODIFY, REMOVE,
// INSERT), every PUT with a checksum; a snapshot of it holds exactly the
// table's final state.
func TestObjectLockBucket(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	bucket := testenv.LockedBucket(t, c)

	// Every PUT through the proxy is looked at for its checksum.
	proxy := backuptest.NewProxy(t, os.Getenv("AWS_ENDPOINT_URL_S3"))
	var mu sync.Mutex
	puts, unchecked := 0, []string{}
	proxy.Fail(func(r *http.Request) bool {
		if r.Method == http.MethodPut && r.URL.Query().Get("uploadId") == "" {
			mu.Lock()
			puts++
			if r.Header.Get("Content-Md5") == "" && r.Header.Get("X-Amz-Checksum-Crc32") == "" && !strings.Contains(r.Header.Get("X-Amz-Trailer"), "x-amz-checksum-") {
				unchecked = append(unchecked, r.URL.Path)
			}
			mu.Unlock()
		}
		return false
	})
	t.Setenv("AWS_ENDPOINT_URL_S3", proxy.URL)
	// The checksum must not hang on the SDK's default: with this, the SDK
	// adds one only where the API requires it.
	t.Setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")

	ddb := c.DynamoDB()
	table := idTable(t, ddb, "cli-locked")
	want := map[string]string{}
	for i := range 30 {
		id := "item-" + strconv.Itoa(i)
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			"id": &types.AttributeValueMemberS{Value: id}, "n": &types.AttributeValueMemberN{Value: strconv.Itoa(i)}}}); err != nil {
			t.Fatal(err)
		}
		want[id] = strconv.Itoa(i)
	}
	if _, stderr, code := backfillCLI("--table", table, "--dest", "s3://"+bucket+"/backups", "--checkpoint", t.TempDir()+"/cp.json", "--quiet"); code != 0 {
		t.Fatalf("backfill on a locked bucket: exit %d: %s", code, stderr)
	}

	// The stream writer: item-0 changed, item-1 removed, item-new inserted.
	pc, err := awsconf.Load(ctx, awsconf.Options{EndpointURL: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	h, err := stream.New(pc.S3(), stream.Config{Bucket: bucket, Prefix: "backups", Table: table, Concurrency: 4, SkipApplied: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:dynamodb:us-east-1:123456789012:table/" + table + "/stream/2026-01-01T00:00:00.000"
	rec := func(seq int, name, id, n string) stream.Record {
		r := stream.Record{EventID: strconv.Itoa(seq), EventName: name, EventSource: "aws:dynamodb", EventSourceARN: arn,
			Change: stream.StreamRecord{ApproximateCreationDateTime: "1767225600", SequenceNumber: fmt.Sprintf("%021d", seq),
				Keys: json.RawMessage(`{"id":{"S":"` + id + `"}}`), StreamViewType: "NEW_IMAGE"}}
		if n != "" {
			r.Change.NewImage = json.RawMessage(`{"id":{"S":"` + id + `"},"n":{"N":"` + n + `"}}`)
		}
		return r
	}
	resp, err := h.Handle(ctx, stream.Event{Records: []stream.Record{
		rec(1, "MODIFY", "item-0", "100"), rec(2, "REMOVE", "item-1", ""), rec(3, "INSERT", "item-new", "7")}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("stream writer on a locked bucket: %v %+v", err, resp.BatchItemFailures)
	}
	want["item-0"], want["item-new"] = "100", "7"
	delete(want, "item-1")
	mu.Lock()
	if puts < 32 || len(unchecked) > 0 {
		t.Errorf("%d PUTs, %d without a checksum: %v", puts, len(unchecked), unchecked)
	}
	mu.Unlock()

	out := t.TempDir()
	if _, stderr, code := cli("snapshot", "--source", "s3://"+bucket+"/backups/"+table, "--out", out, "--compression", "none", "--quiet"); code != 0 {
		t.Fatalf("snapshot: exit %d: %s", code, stderr)
	}
	got := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(out, "data", "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var l struct {
				Item struct {
					ID struct{ S string } `json:"id"`
					N  struct{ N string } `json:"n"`
				}
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			got[l.Item.ID.S] = l.Item.N.N
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("snapshot of the locked bucket:\n got %v\nwant %v", got, want)
	}
}
