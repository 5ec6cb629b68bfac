package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the real dynasnap command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dynasnap-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "dynasnap")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func seed(t *testing.T, n int) layout.Location {
	t.Helper()
	c := testenv.Clients(t)
	cl := c.S3()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "backups", "orders")
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			it, _ := item.Unmarshal([]byte(fmt.Sprintf(`{"pk":{"S":"order#%d"},"total":{"N":"%d.50"}}`, i, i)))
			id, _ := item.KeyID(it, "pk")
			body, _ := item.Marshal(it)
			if _, err := cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(src.ObjectKey(id)), Body: bytes.NewReader(body)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	return src
}

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// kill -9 in the middle leaves no manifest-summary.json; a rerun into the
// same folder produces a complete snapshot.
func TestSnapshotCrashAndRerun(t *testing.T) {
	src := seed(t, 2000)
	at := time.Now().Add(time.Second).UTC().Format(time.RFC3339)
	time.Sleep(1500 * time.Millisecond)
	out := filepath.Join(t.TempDir(), "snap")
	cmd := exec.Command(binary(t), "snapshot", "--source", src.String(), "--at", at, "--out", out,
		"--concurrency", "1", "--list-concurrency", "1", "--page-size", "50", "--file-size", "2KiB", "--quiet")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once the first data file has been committed, mid-run.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if files, _ := filepath.Glob(filepath.Join(out, "data", "*.json.gz")); len(files) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no data file appeared")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(out, "manifest-summary.json")); !os.IsNotExist(err) {
		t.Fatalf("killed run left manifest-summary.json (%v)", err)
	}
	stdout, stderr, code := run(t, "snapshot", "--source", src.String(), "--at", at, "--out", out, "--json")
	if code != 0 {
		t.Fatalf("rerun exit %d: %s", code, stderr)
	}
	var res struct{ Items int }
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.Items != 2000 {
		t.Fatalf("rerun summary %q: %v", stdout, err)
	}
	if _, err := os.Stat(filepath.Join(out, "manifest-summary.json")); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotCLIErrors(t *testing.T) {
	src := seed(t, 5)
	out := t.TempDir()
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"snapshot", "--source", src.String(), "--out", out, "--at", time.Now().Add(time.Hour).Format(time.RFC3339)}, 2, "in the future"},
		{[]string{"snapshot", "--source", src.String(), "--out", out, "--at", "yesterday"}, 2, "RFC 3339"},
		{[]string{"snapshot", "--source", src.String(), "--out", src.String() + "/snap"}, 2, "overlaps"},
		{[]string{"snapshot", "--source", src.String()}, 2, "required"},
		{[]string{"snapshot", "--source", src.String(), "--out", out, "--compression", "lz4"}, 1, "compression"},
		{[]string{"snapshot", "--source", src.String(), "--out", out, "--sse", "AES256"}, 2, "s3:// outputs only"},
	}
	for _, c := range cases {
		_, stderr, code := run(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, c.code, c.want)
		}
	}
	if stdout, _, code := run(t, "snapshot", "--help"); code != 0 || !strings.Contains(stdout, "Examples:") {
		t.Errorf("--help: exit %d\n%s", code, stdout)
	}
	// Before the first version: an empty snapshot, clearly reported.
	_, stderr, code := run(t, "snapshot", "--source", src.String(), "--out", filepath.Join(out, "early"), "--at", "-1h")
	if code != 0 || !strings.Contains(stderr, "the snapshot is empty") {
		t.Errorf("early --at: exit %d, %s", code, stderr)
	}
}

// A filtered snapshot holds exactly the matching items; a malformed
// expression fails before any request (the endpoint here does not exist).
func TestSnapshotWhere(t *testing.T) {
	src := seed(t, 40)
	at := time.Now().Add(time.Second).UTC().Format(time.RFC3339)
	time.Sleep(1500 * time.Millisecond)
	out := filepath.Join(t.TempDir(), "snap")
	stdout, stderr, code := run(t, "snapshot", "--source", src.String(), "--at", at, "--out", out, "--json",
		"--where", `item.total < 10`, "--key-prefix", "pk=order#")
	if code != 0 {
		t.Fatal(stderr)
	}
	var res struct{ Items, FilteredOut int }
	json.Unmarshal([]byte(stdout), &res)
	if res.Items != 10 || res.FilteredOut != 30 { // totals are i.50 for i in 0..39
		t.Fatalf("filtered snapshot: %s", stdout)
	}
	_, stderr, code = run(t, "snapshot", "--source", src.String(), "--out", t.TempDir(), "--where", `item.total <<< 3`, "--endpoint-url", "http://127.0.0.1:1")
	if code != 2 || !strings.Contains(stderr, "1:") {
		t.Fatalf("bad expression: exit %d, %s", code, stderr)
	}
}

// A --source with no versions at all is most likely a typo: an error, not
// an empty snapshot.
func TestSnapshotEmptySourceIsAnError(t *testing.T) {
	src := seed(t, 1)
	_, stderr, code := run(t, "snapshot", "--source", src.String()+"-typo", "--out", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "no object versions under") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
