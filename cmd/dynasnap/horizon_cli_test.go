package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/testsupport/backuptest"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// The lifecycle horizon (docs/DESIGN.md §3) against SeaweedFS: with a rule
// NoncurrentDays=1 on the bucket, a time two days back is an error naming
// the rule (a warning with --allow-partial-history), a time inside the
// horizon is unaffected, and a denied lifecycle read warns and goes on.
func TestHorizonCLI(t *testing.T) {
	src := seed(t, 40)
	c := testenv.Clients(t)
	ctx := context.Background()
	_, err := c.S3().PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(src.Bucket),
		LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{{
			ID: aws.String("expire-noncurrent-1d"), Status: s3types.ExpirationStatusEnabled,
			Filter:                      &s3types.LifecycleRuleFilter{Prefix: aws.String("backups/")},
			NoncurrentVersionExpiration: &s3types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)},
		}}}})
	if err != nil {
		t.Fatalf("put lifecycle: %v", err)
	}
	source := "--source=" + src.String()

	// Two days back: refused, naming the rule and the oldest exact time.
	_, stderr, code := cli("snapshot", source, "--at", "-48h", "--out", t.TempDir()+"/s", "--quiet")
	if code != 1 || !strings.Contains(stderr, `lifecycle rule "expire-noncurrent-1d"`) || !strings.Contains(stderr, "oldest exact time is") ||
		!strings.Contains(stderr, "--allow-partial-history") {
		t.Fatalf("snapshot --at -48h: exit %d, want 1 naming the rule: %s", code, stderr)
	}
	for _, args := range [][]string{
		{"restore", source, "--at", "-48h", "--table", "never-written"},
		{"diff", source, "--from", "-48h"},
	} {
		if _, stderr, code := cli(args...); code != 1 || !strings.Contains(stderr, "expire-noncurrent-1d") {
			t.Errorf("%v: exit %d, want 1 naming the rule: %s", args, code, stderr)
		}
	}

	// With --allow-partial-history: done, with the warning in the summary and --json.
	stdout, stderr, code := cli("snapshot", source, "--at", "-48h", "--allow-partial-history", "--out", t.TempDir()+"/s", "--json")
	if code != 0 {
		t.Fatalf("--allow-partial-history: exit %d: %s", code, stderr)
	}
	var r snapshotReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.HistoryWarnings) != 1 || !strings.HasPrefix(r.HistoryWarnings[0], history.PartialPrefix) || !strings.Contains(stderr, "warning: "+history.PartialPrefix) {
		t.Fatalf("--allow-partial-history: warnings %q, stderr %s", r.HistoryWarnings, stderr)
	}

	// Inside the horizon: unaffected.
	stdout, stderr, code = cli("snapshot", source, "--at", "-1h", "--out", t.TempDir()+"/s", "--json")
	if code != 0 {
		t.Fatalf("--at -1h: exit %d: %s", code, stderr)
	}
	r = snapshotReport{}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.HistoryWarnings) != 0 || strings.Contains(stderr, "lifecycle") {
		t.Fatalf("--at -1h: warnings %q: %s", r.HistoryWarnings, stderr)
	}
	stdout, stderr, code = cli("snapshot", source, "--out", t.TempDir()+"/s", "--json")
	if code != 0 || strings.Contains(stderr, "lifecycle") {
		t.Fatalf("default --at: exit %d: %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.Items != 40 {
		t.Fatalf("default --at: %d items, want 40 (%v)", r.Items, err)
	}

	// history notes how far back its list is complete.
	_, stderr, code = cli("history", source, "--key", `{"pk":{"S":"order#1"}}`)
	if code != 0 || !strings.Contains(stderr, `note: lifecycle rule "expire-noncurrent-1d"`) {
		t.Errorf("history: exit %d: %s", code, stderr)
	}

	// A denied lifecycle read: a warning, and the snapshot as before, even two days back.
	proxy := backuptest.NewProxy(t, os.Getenv("AWS_ENDPOINT_URL_S3"))
	proxy.Fail(func(r *http.Request) bool { _, ok := r.URL.Query()["lifecycle"]; return ok })
	stdout, stderr, code = cli("snapshot", source, "--at", "-48h", "--endpoint-url", proxy.URL, "--out", t.TempDir()+"/s", "--json")
	if code != 0 {
		t.Fatalf("denied lifecycle read: exit %d: %s", code, stderr)
	}
	r = snapshotReport{}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.HistoryWarnings) != 1 || !strings.Contains(r.HistoryWarnings[0], "could not read the lifecycle rules") ||
		!strings.Contains(r.HistoryWarnings[0], "access denied") || !strings.Contains(stderr, "warning: could not read") {
		t.Fatalf("denied lifecycle read: warnings %q: %s", r.HistoryWarnings, stderr)
	}
}
