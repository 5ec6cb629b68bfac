package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/drill"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestDrillCLI: dynasnap drill against SeaweedFS and dynalite: the newest
// finished snapshot in an S3 folder is drilled (a half-written newer one is
// skipped), --json reports the figures, --max-rpo below the measured
// recovery point exits 4, --source takes a snapshot first, bad flags exit
// 2, and no scratch table is ever left (ListTables).
func TestDrillCLI(t *testing.T) {
	src := seed(t, 200)
	c := testenv.Clients(t)
	ddb := c.DynamoDB()
	ctx := context.Background()
	prefix := testenv.Name("drillcli")
	noneLeft := func(when string) {
		t.Helper()
		left, err := drill.ScratchTables(ctx, ddb, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range left {
			drill.DeleteTable(ctx, ddb, n, false)
		}
		if len(left) > 0 {
			t.Errorf("%s: scratch tables left behind: %v", when, left)
		}
	}
	t.Cleanup(func() { noneLeft("cleanup") })

	// Two finished snapshots, the newer one in the folder that sorts first,
	// and a half-written one (a data file, no summary). The older one is
	// two seconds back: it must still hold every seeded item.
	time.Sleep(2100 * time.Millisecond)
	at := time.Now().Truncate(time.Second).Add(-time.Second)
	folder := "s3://" + src.Bucket + "/exports/orders"
	newer, older := folder+"/a-newer", folder+"/b-older"
	for out, t0 := range map[string]time.Time{newer: at, older: at.Add(-time.Second)} {
		if _, e, code := cli("snapshot", "--source", src.String(), "--at", t0.Format(time.RFC3339), "--out", out, "--quiet"); code != 0 {
			t.Fatalf("snapshot %s: %d %s", out, code, e)
		}
	}
	if _, err := c.S3().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src.Bucket),
		Key: aws.String("exports/orders/c-half/data/part-00000.json.gz"), Body: strings.NewReader("")}); err != nil {
		t.Fatal(err)
	}

	o, e, code := cli("drill", "--snapshots", folder, "--table-prefix", prefix, "--max-rpo", "1h", "--max-rto", "10m", "--json")
	if code != 0 || !strings.Contains(e, "drill PASSED") {
		t.Fatalf("drill: %d\n%s\n%s", code, e, o)
	}
	var r drill.Report
	if err := json.Unmarshal([]byte(o), &r); err != nil {
		t.Fatalf("--json: %v\n%s", err, o)
	}
	if !r.Passed || r.Snapshot != newer || r.SnapshotItems != 200 || len(r.UnfinishedSkipped) != 1 ||
		!strings.HasSuffix(r.UnfinishedSkipped[0], "c-half") || !r.Table.Deleted {
		t.Errorf("report: %s", o)
	}
	if rt := r.RecoveryTime; rt == nil || rt.ItemsRestored != 200 || rt.Budget == nil || rt.Budget.Seconds != 600 {
		t.Errorf("recovery time: %s", o)
	}
	if rp := r.RecoveryPoint; rp.DataLag == nil || rp.Seconds < rp.SnapshotAge.Seconds || rp.Human == "" || rp.Budget.Human != "1h0m0s" {
		t.Errorf("recovery point: %s", o)
	}
	noneLeft("healthy drill")

	o, e, code = cli("drill", "--snapshot", older, "--table-prefix", prefix, "--max-rpo", "1ms", "--json", "--quiet")
	if code != drillOverBudget || !strings.Contains(e, "--max-rpo") || !strings.Contains(e, "over the budget of 1ms") {
		t.Fatalf("--max-rpo 1ms: %d\n%s", code, e)
	}
	r = drill.Report{}
	if err := json.Unmarshal([]byte(o), &r); err != nil || r.Passed || !r.OverBudget || !r.RecoveryPoint.Exceeded || !r.Table.Deleted {
		t.Errorf("--max-rpo 1ms report (%v): %s", err, o)
	}
	noneLeft("over budget")

	// --after-restore: the hook sees the scratch table; a failing hook fails
	// the drill and the table still goes.
	marker := filepath.Join(t.TempDir(), "table")
	if _, e, code := cli("drill", "--snapshot", older, "--table-prefix", prefix, "--quiet",
		"--after-restore", `printf %s "$DYNASNAP_DRILL_TABLE" > `+marker); code != 0 {
		t.Fatalf("--after-restore (passing): %d %s", code, e)
	}
	if b, _ := os.ReadFile(marker); !strings.HasPrefix(string(b), prefix+"-") {
		t.Errorf("--after-restore saw DYNASNAP_DRILL_TABLE=%q; want a table named %s-...", b, prefix)
	}
	if _, e, code := cli("drill", "--snapshot", older, "--table-prefix", prefix, "--quiet", "--after-restore", "exit 7"); code == 0 || !strings.Contains(e, "--after-restore") {
		t.Errorf("--after-restore (failing): exit %d, stderr %s", code, e)
	}
	noneLeft("after-restore hook")

	// --source with --snapshots: the new snapshot stays in the folder.
	o, e, code = cli("drill", "--source", src.String(), "--snapshots", folder, "--table-prefix", prefix, "--json", "--quiet")
	r = drill.Report{}
	if err := json.Unmarshal([]byte(o), &r); code != 0 || err != nil || !r.Passed || r.SnapshotTaken == nil ||
		!strings.HasPrefix(r.Snapshot, folder+"/drill-") || r.SnapshotItems != 200 {
		t.Fatalf("--source: %d %v\n%s\n%s", code, err, e, o)
	}
	// Without a place to keep it, it goes to a temporary folder.
	if _, e, code := cli("drill", "--source", src.String(), "--table-prefix", prefix, "--quiet"); code != 0 {
		t.Fatalf("--source into a temporary folder: %d %s", code, e)
	}
	noneLeft("--source")

	// No finished snapshot: an error, and still a JSON report.
	o, e, code = cli("drill", "--snapshots", folder+"/c-half", "--table-prefix", prefix, "--json", "--quiet")
	if code != 1 || !strings.Contains(e, "no finished snapshot") || !strings.Contains(o, `"passed": false`) {
		t.Errorf("only a half-written snapshot: %d\n%s\n%s", code, e, o)
	}

	for _, args := range [][]string{{}, {"--snapshot", newer, "--snapshots", folder}, {"--snapshot", newer, "--out", "x"},
		{"--snapshot", newer, "--table-prefix", "bad/name"}, {"--snapshot", newer, "--max-rpo", "soon"}} {
		if _, e, code := cli(append([]string{"drill"}, args...)...); code != 2 {
			t.Errorf("drill %v: want exit 2, got %d %s", args, code, e)
		}
	}
	// --out inside the backup prefix is refused, as snapshot refuses it.
	if _, e, code := cli("drill", "--source", src.String(), "--out", "s3://"+src.Bucket+"/backups/x", "--table-prefix", prefix); code != 2 || !strings.Contains(e, "backup prefix") {
		t.Errorf("--out in the backup prefix: %d %s", code, e)
	}
}

// TestDrillCLISignal: SIGTERM in the middle of the restore (what a
// CronJob's pod gets when it is stopped) ends the real binary with 130, and
// the scratch table is deleted first.
func TestDrillCLISignal(t *testing.T) {
	src := seed(t, 500)
	ctx := context.Background()
	ddb := testenv.Clients(t).DynamoDB()
	prefix := testenv.Name("drillsig")
	snap := filepath.Join(t.TempDir(), "snap")
	if _, e, code := cli("snapshot", "--source", src.String(), "--out", snap, "--at", time.Now().Format(time.RFC3339Nano), "--quiet"); code != 0 {
		t.Fatalf("snapshot: %d %s", code, e)
	}
	// 500 one-WCU items at 100 WCU/s: about four seconds of restore.
	cmd := exec.Command(binary(t), "drill", "--snapshot", snap, "--table-prefix", prefix, "--max-wcu", "100")
	// The requests the signal cuts short go through the shield: dynalite
	// dies of a client that hangs up mid-request.
	cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL_DYNAMODB="+testenv.ShieldedDynamoDB(t))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "restoring ") {
			time.Sleep(500 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	err = cmd.Wait()
	all := strings.Join(lines, "\n")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("want exit 130, got %v\n%s", err, all)
	}
	if !strings.Contains(all, "deleted scratch table "+prefix) || !strings.Contains(all, "interrupted") ||
		strings.Contains(all, "recovery time") {
		t.Errorf("stderr:\n%s", all)
	}
	left, err := drill.ScratchTables(ctx, ddb, prefix)
	if err != nil || len(left) > 0 {
		t.Errorf("scratch tables left behind: %v %v", left, err)
	}
	for _, n := range left {
		drill.DeleteTable(ctx, ddb, n, false)
	}
}
