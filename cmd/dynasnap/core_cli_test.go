package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// A snapshot with no --at, started right after a backfill, holds every
// backfilled item: the default is the second the command starts in, and
// the listing waits for that second to be over (docs/DESIGN.md §3). The old
// default, the last whole second before the scan, left out the items of
// the current second.
func TestBackfillThenSnapshotHoldsEverything(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	ddb := c.DynamoDB()
	table := idTable(t, ddb, "cli-default-at")
	const n = 1500
	var reqs []types.WriteRequest
	flush := func() {
		if len(reqs) == 0 {
			return
		}
		if _, err := ddb.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}}); err != nil {
			t.Fatal(err)
		}
		reqs = nil
	}
	for i := range n {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
			"id": &types.AttributeValueMemberS{Value: fmt.Sprintf("item-%d", i)}}}})
		if len(reqs) == 25 {
			flush()
		}
	}
	flush()

	bucket := testenv.Bucket(t, c, true)
	if _, stderr, code := backfillCLI("--table", table, "--dest", "s3://"+bucket+"/backups", "--checkpoint", t.TempDir()+"/cp.json", "--quiet"); code != 0 {
		t.Fatalf("backfill: exit %d: %s", code, stderr)
	}
	// At once, with no --at: the backfill's last writes share this second.
	started := time.Now()
	out := t.TempDir()
	stdout, stderr, code := cli("snapshot", "--source", "s3://"+bucket+"/backups/"+table, "--out", out, "--json")
	if code != 0 {
		t.Fatalf("snapshot: exit %d: %s", code, stderr)
	}
	var r snapshotReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.Items != n {
		t.Fatalf("snapshot right after backfill holds %d of %d items (%d versions newer than %s left out): %s", r.Items, n, r.VersionsAfterExportTime, r.ExportTime, stderr)
	}
	at, _ := time.Parse(time.RFC3339Nano, r.ExportTime)
	if !at.Equal(started.Truncate(time.Second)) && !at.Equal(started.Truncate(time.Second).Add(time.Second)) {
		t.Fatalf("exportTime %s: want the second the command started in (%s)", r.ExportTime, started.UTC().Format(time.RFC3339Nano))
	}
	if !strings.Contains(stderr, "newer than") {
		t.Fatalf("summary does not say how many versions were left out: %s", stderr)
	}
}

// The flag groups are the same on every command: snapshot takes a bare
// --key-prefix (the partition key read from the backup), and --ranges and
// --shard in every form, as restore and diff do.
func TestSharedFlagForms(t *testing.T) {
	src := seed(t, 300)
	time.Sleep(1100 * time.Millisecond)
	at := time.Now().Add(-100 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	out := t.TempDir() + "/snap"
	stdout, stderr, code := cli("snapshot", "--source", src.String(), "--at", at, "--out", out, "--key-prefix", "order#1", "--ranges", "100", "--json")
	if code != 0 {
		t.Fatalf("snapshot --key-prefix order#1: exit %d: %s", code, stderr)
	}
	var r snapshotReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	want := 0
	for i := range 300 {
		if strings.HasPrefix(fmt.Sprint(i), "1") {
			want++
		}
	}
	if r.Items != int64(want) || r.FilteredOut != int64(300-want) || r.Ranges != 100 {
		t.Fatalf("bare --key-prefix kept %d items (%d filtered, %d ranges), want %d", r.Items, r.FilteredOut, r.Ranges, want)
	}
	// Shards as contiguous blocks, taken from the Indexed Job's index.
	sharded := t.TempDir() + "/sharded"
	var items int64
	for i := range 3 {
		t.Setenv("JOB_COMPLETION_INDEX", fmt.Sprint(i))
		stdout, stderr, code := cli("snapshot", "--source", src.String(), "--at", at, "--out", sharded, "--shard", "auto/3", "--ranges", "4096", "--json")
		if code != 0 {
			t.Fatalf("shard %d: exit %d: %s", i, code, stderr)
		}
		var r snapshotReport
		json.Unmarshal([]byte(stdout), &r)
		items += r.Items
	}
	if _, stderr, code := cli("snapshot", "commit", "--out", sharded); code != 0 {
		t.Fatalf("commit: exit %d: %s", code, stderr)
	}
	if items != 300 {
		t.Fatalf("three shards hold %d items, want 300", items)
	}
	for _, args := range [][]string{
		{"restore", "--source", src.String(), "--table", "t", "--shard", "auto/2"},
		{"diff", "--source", src.String(), "--from", "-1h", "--shard", "auto/2", "--ranges", "16"},
	} {
		t.Setenv("JOB_COMPLETION_INDEX", "")
		t.Setenv("AWS_BATCH_JOB_ARRAY_INDEX", "")
		if _, stderr, code := cli(args...); code != 2 || !strings.Contains(stderr, "JOB_COMPLETION_INDEX") {
			t.Fatalf("%v without an index: exit %d: %s", args, code, stderr)
		}
	}
}
