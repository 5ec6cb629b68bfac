package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestFleetCLI: the fleet jobs over three tables (two per-item, one
// journal) and one broken folder: the snapshot of every table, each into
// the fleet's snapshots; the broken one fails without stopping the others,
// and the summary and exit status say so. compact skips the per-item
// tables. A fleet drill of one table keeps its report where status reads
// it, and status then shows every snapshot and that drill.
func TestFleetCLI(t *testing.T) {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, true)
	ctx := t.Context()
	const prefix = "dynasnap"
	seed := fleetSeed{t: t, c: c, bucket: bucket, prefix: prefix}
	seed.items("orders", "a", "b")
	seed.items("users", "a", "b")
	seed.journal("events", time.Second, "e1", time.Now().Add(-time.Minute))
	seed.put(prefix+"/broken/journal/journal.json", "not json")
	backups := "s3://" + bucket + "/" + prefix

	stdout, stderr, code := cli("fleet", "--backups", backups, "--run-time", "2026-12-04T10:00:00Z", "--json", "--",
		"snapshot", "--source", "{source}", "--out", "{snapshots}/{time}", "--json")
	if code != 1 {
		t.Fatalf("fleet snapshot: exit %d, want 1 (the broken table)\n%s\n%s", code, stdout, stderr)
	}
	var rep fleetReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(rep.Tables) != 4 || rep.Failed != 1 || rep.Skipped != 0 {
		t.Fatalf("%s", stdout)
	}
	for _, r := range rep.Tables {
		if (r.Table == "broken") != (r.ExitCode != 0) {
			t.Errorf("%s: exit %d (%s)", r.Table, r.ExitCode, r.Error)
		}
		if r.Table != "broken" && !json.Valid(r.Result) {
			t.Errorf("%s: the snapshot's JSON report is not kept: %q", r.Table, r.Result)
		}
	}
	if !strings.Contains(stderr, "4 tables: 3 ok, 1 failed, 0 skipped") || !strings.Contains(stderr, "[orders] ") || !strings.Contains(stderr, "broken") {
		t.Errorf("summary:\n%s", stderr)
	}
	snaps := map[string]bool{}
	out, err := c.S3().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + ".dynasnap-snapshots/")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		if strings.HasSuffix(*o.Key, "/20261204T100000Z/manifest-summary.json") {
			snaps[strings.Split(*o.Key, "/")[1]] = true
		}
	}
	if len(snaps) != 3 || !snaps["orders"] || !snaps["users"] || !snaps["events"] {
		t.Errorf("snapshots written: %v", snaps)
	}

	// compact: the journal only.
	_, stderr, code = cli("fleet", "--backups", backups, "--table", "orders,events", "--", "compact", "--source", "{source}")
	if code != 0 || !strings.Contains(stderr, "[orders] skipped: not a journal") || !strings.Contains(stderr, "2 tables: 1 ok, 0 failed, 1 skipped") {
		t.Errorf("fleet compact: exit %d\n%s", code, stderr)
	}

	// --enrolled: only what the tag enroller holds enrolled.
	for tb, state := range map[string]string{"orders": "enrolled", "users": "released"} {
		seed.put(prefix+".dynasnap-results/"+tb+"/enrolment.json", `{"table":"`+tb+`","state":"`+state+`"}`)
	}
	_, stderr, code = cli("fleet", "--backups", backups, "--enrolled", "--", "forget", "--snapshots", "{snapshots}", "--keep-last", "1", "--dry-run")
	if code != 0 || !strings.Contains(stderr, "1 tables: 1 ok") || !strings.Contains(stderr, "[orders] ") || strings.Contains(stderr, "[users] ") {
		t.Errorf("fleet --enrolled: exit %d\n%s", code, stderr)
	}

	// A drill of one table, its report kept for status.
	_, stderr, code = cli("fleet", "--backups", backups, "--table", "orders", "--", "drill", "--snapshots", "{snapshots}", "--report-out", "{results}/drill.json", "--quiet")
	if code != 0 {
		t.Fatalf("fleet drill: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code = cli("status", "--backups", backups, "--table", "orders,users,events", "--json")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var st struct {
		Tables []struct {
			Table        string
			SnapshotTime *time.Time
			Drill        *struct{ Passed bool }
		}
	}
	json.Unmarshal([]byte(stdout), &st)
	for _, tb := range st.Tables {
		if tb.SnapshotTime == nil || time.Since(*tb.SnapshotTime) > 5*time.Minute || (tb.Table == "orders") != (tb.Drill != nil && tb.Drill.Passed) {
			t.Errorf("status of %s: %+v", tb.Table, tb)
		}
	}
}
