package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/backuptest"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// The emulator version, from the Go module proxy (docs/DESIGN.md §9).
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator"
const rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"

// TestBootstrapUnderRIE runs the real bootstrap binary under the AWS Lambda
// Runtime Interface Emulator and invokes it with DynamoDB Streams events in
// the shape AWS sends, S3 going through a proxy that fails one key's writes.
func TestBootstrapUnderRIE(t *testing.T) {
	c := testenv.Clients(t)
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	bucket := testenv.Bucket(t, c, true)
	proxy := backuptest.NewProxy(t, os.Getenv("AWS_ENDPOINT_URL_S3"))
	bootstrap := buildBootstrap(t)
	rie := emulator(t)

	loc := layout.TableLocation(bucket, "backups", "Orders")
	keyOf := func(k string) string {
		it, err := item.Unmarshal([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := item.KeyID(it)
		return loc.ObjectKey(id)
	}
	bad := keyOf(`{"pk":{"S":"user#2"},"sk":{"N":"2"}}`)
	proxy.Fail(func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/"+bad)
	})

	var logs syncBuffer
	url := startRIE(t, rie, bootstrap, &logs, map[string]string{
		"DYNASNAP_BUCKET":     bucket,
		"DYNASNAP_PREFIX":     "backups",
		"AWS_ENDPOINT_URL_S3": proxy.URL,
	})
	event, err := os.ReadFile("../../testdata/stream/batch.json")
	if err != nil {
		t.Fatal(err)
	}
	resp := invoke(t, url, event)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "111100000000000000000002" {
		t.Fatalf("batchItemFailures %+v, want exactly record 2's sequence number; logs:\n%s", resp.BatchItemFailures, logs.String())
	}

	// Lambda then redelivers from the failed record on.
	proxy.Fail(nil)
	var ev struct{ Records []json.RawMessage }
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	replay, _ := json.Marshal(map[string]any{"Records": ev.Records[1:]})
	if resp := invoke(t, url, replay); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("replay failures %+v", resp.BatchItemFailures)
	}
	// And the whole batch once more (a retry after a lost response): the
	// versions below must still be one per change.
	if resp := invoke(t, url, event); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("second delivery failures %+v", resp.BatchItemFailures)
	}

	want := map[string]string{
		`{"pk":{"S":"user#1"},"sk":{"N":"1"}}`: "put:1 put:3 put:5",
		`{"pk":{"S":"user#2"},"sk":{"N":"2"}}`: "put:2 del put:7",
		`{"pk":{"S":"user#3"},"sk":{"N":"3"}}`: "put:4 del",
	}
	ctx := context.Background()
	for k, w := range want {
		vs, err := backuptest.History(ctx, c.S3(), bucket, keyOf(k))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range vs {
			if v.DeleteMarker {
				got = append(got, "del")
			} else {
				got = append(got, "put:"+strings.TrimLeft(strings.TrimPrefix(v.Meta[backup.MetaSequenceNumber], "1111"), "0"))
				if arn := v.Meta[backup.MetaStreamARN]; arn != "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2024-06-01T00:00:00.000" {
					t.Errorf("%s: stream ARN recorded %q", k, arn)
				}
			}
		}
		if strings.Join(got, " ") != w {
			t.Errorf("%s: versions %q, want %q", k, strings.Join(got, " "), w)
		}
	}
	out, err := c.S3().ListObjectVersions(ctx, &s3ListInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if n := countKeys(out); n != 3 {
		t.Errorf("%d objects, want one per item (3)", n)
	}

	// A stream without new images is an invocation error that names the fix.
	keysOnly, _ := os.ReadFile("../../testdata/stream/keys-only.json")
	body, status := post(t, url, keysOnly)
	if !strings.Contains(body, "NEW_AND_OLD_IMAGES") {
		t.Errorf("KEYS_ONLY stream: status %d, response %s", status, body)
	}

	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "Ada") || strings.Contains(line, "user#") {
			t.Errorf("log line holds item contents: %s", line)
		}
	}
	if !logs.waitFor(`"msg":"batch applied"`) {
		t.Errorf("no JSON batch log in:\n%s", logs.String())
	}
}

// TestBootstrapRefusesUnversionedBucket: the cold start check fails the
// invocation loudly and writes nothing.
func TestBootstrapRefusesUnversionedBucket(t *testing.T) {
	c := testenv.Clients(t)
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	bucket := testenv.Bucket(t, c, false)
	var logs syncBuffer
	url := startRIE(t, emulator(t), buildBootstrap(t), &logs, map[string]string{"DYNASNAP_BUCKET": bucket})
	event, _ := os.ReadFile("../../testdata/stream/batch.json")
	body, _ := post(t, url, event)
	if !strings.Contains(body, "versioning") {
		t.Fatalf("response %s", body)
	}
	out, err := c.S3().ListObjectVersions(context.Background(), &s3ListInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if n := countKeys(out); n != 0 {
		t.Fatalf("wrote %d objects to an unversioned bucket", n)
	}
}

func invoke(t *testing.T, url string, event []byte) events.DynamoDBEventResponse {
	t.Helper()
	body, status := post(t, url, event)
	var resp events.DynamoDBEventResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil || status != http.StatusOK || strings.Contains(body, "errorMessage") {
		t.Fatalf("invoke: status %d, body %s", status, body)
	}
	return resp
}

func post(t *testing.T, url string, event []byte) (string, int) {
	t.Helper()
	r, err := http.Post(url, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b), r.StatusCode
}

// startRIE runs the emulator with bootstrap as the function and returns the
// Invoke URL. An emulator that exits before it listens (its port, free a
// moment before, taken by another test package's process) is started
// again on other ports, up to three times.
func startRIE(t *testing.T, rie, bootstrap string, logs io.Writer, env map[string]string) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr, apiAddr := freeAddr(t), freeAddr(t)
		cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, bootstrap)
		cmd.Env = append(os.Environ(), "AWS_LAMBDA_FUNCTION_TIMEOUT=60", "DYNASNAP_LOG_LEVEL=info")
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		why, gone := waitListen(addr, exited, 60*time.Second)
		if why == "" {
			t.Cleanup(func() { cmd.Process.Kill(); <-exited })
			return "http://" + addr + "/2015-03-31/functions/function/invocations"
		}
		if !gone {
			cmd.Process.Kill()
			<-exited
		}
		if attempt == 3 {
			t.Fatalf("emulator did not listen on %s: %s", addr, why)
		}
		t.Logf("emulator on %s: %s; starting it again on other ports", addr, why)
	}
}

// waitListen waits until addr accepts a connection: "" then, else why not;
// gone says the process ended (its end received from exited).
func waitListen(addr string, exited <-chan error, timeout time.Duration) (why string, gone bool) {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case err := <-exited:
			return fmt.Sprintf("the emulator exited (%v)", err), true
		default:
		}
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return "", false
		}
		if time.Now().After(deadline) {
			return "not listening after " + timeout.String(), false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// buildBootstrap builds this command as `make lambda` does.
func buildBootstrap(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, b)
	}
	return out
}

var rieOnce sync.Mutex

// emulator builds the RIE from the module proxy once per machine and caches
// the binary by version, as scripts/stack.sh does for SeaweedFS.
func emulator(t *testing.T) string {
	t.Helper()
	rieOnce.Lock()
	defer rieOnce.Unlock()
	cache := os.Getenv("DYNASNAP_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(dir, "dynasnap")
	}
	bin := filepath.Join(cache, "aws-lambda-rie-"+rieVersion)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	tmp := t.TempDir()
	cmd := exec.Command("go", "install", rieModule+"/cmd/aws-lambda-rie@"+rieVersion)
	// Outside the module and with GOFLAGS cleared, so the project's go.mod
	// and flags do not apply to the tool's build.
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the Lambda Runtime Interface Emulator: %v\n%s", err, b)
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(tmp, "aws-lambda-rie"), bin); err != nil {
		t.Fatal(fmt.Errorf("cache emulator: %w", err))
	}
	return bin
}

// syncBuffer collects the emulator's output from two pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor reports whether the log holds every one of subs, waiting up to
// 10 s for them: the function's log lines reach the emulator's output
// after its answer may have reached the test.
func (s *syncBuffer) waitFor(subs ...string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := true
		for _, sub := range subs {
			all = all && strings.Contains(s.String(), sub)
		}
		if all || time.Now().After(deadline) {
			return all
		}
		time.Sleep(20 * time.Millisecond)
	}
}
