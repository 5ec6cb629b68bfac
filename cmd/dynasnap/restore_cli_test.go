package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// cli runs a command in-process.
func cli(args ...string) (stdout, stderr string, code int) {
	return cliCtx(context.Background(), args...)
}

// cliCtx is cli under ctx.
func cliCtx(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	a := &app{stdout: &o, stderr: &e}
	a.commands = commands()
	code = a.main(ctx, args)
	return o.String(), e.String(), code
}

// TestRestoreVerifyHistoryDiffCLI: the DR drill end to end through the
// commands: snapshot -> restore --create-table -> verify; a deleted item
// makes verify exit 3 and name it; restore --key brings it back; history and
// diff show the changes made after the snapshot.
func TestRestoreVerifyHistoryDiffCLI(t *testing.T) {
	src := seed(t, 300)
	c := testenv.Clients(t)
	s3c, ddb := c.S3(), c.DynamoDB()
	ctx := context.Background()
	// Changes after the snapshot time: order#1 modified, order#2 deleted.
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 50*time.Millisecond).Sub(now))
	at := time.Now().Truncate(time.Second).Add(-time.Second).UTC().Format(time.RFC3339)
	key := func(i int) string { return fmt.Sprintf(`{"pk":{"S":"order#%d"}}`, i) }
	objectKey := func(i int) string {
		k, _ := item.Unmarshal([]byte(key(i)))
		id, _ := item.KeyID(k)
		return src.ObjectKey(id)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src.Bucket), Key: aws.String(objectKey(1)),
		Body: strings.NewReader(`{"pk":{"S":"order#1"},"total":{"N":"99"},"note":{"S":"late"}}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(src.Bucket), Key: aws.String(objectKey(2))}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)

	snap := filepath.Join(t.TempDir(), "snap")
	if _, e, code := cli("snapshot", "--source", src.String(), "--at", at, "--out", snap, "--quiet"); code != 0 {
		t.Fatalf("snapshot: %d %s", code, e)
	}
	table := testenv.Name("cli")
	t.Cleanup(func() {
		ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	cp := filepath.Join(t.TempDir(), "cp.json")
	_, e, code := cli("restore", "--snapshot", snap, "--table", table, "--create-table", "--checkpoint", cp)
	if code != 0 || !strings.Contains(e, "restored") || !strings.Contains(e, "aws dynamodb import-table") || !strings.Contains(e, "created table") {
		t.Fatalf("restore: %d\n%s", code, e)
	}
	if _, e, code := cli("restore", "--snapshot", snap, "--table", table, "--checkpoint", cp); code != 1 || !strings.Contains(e, "already holds items") {
		t.Fatalf("restore into a non-empty table: %d %s", code, e)
	}
	if o, e, code := cli("verify", "--snapshot", snap, "--table", table, "--quiet"); code != 0 || !strings.Contains(o, "OK") {
		t.Fatalf("verify: %d\n%s%s", code, o, e)
	}

	k5, _ := item.Unmarshal([]byte(key(5)))
	if _, err := ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: k5}); err != nil {
		t.Fatal(err)
	}
	o, _, code := cli("verify", "--snapshot", snap, "--table", table, "--quiet", "--json")
	var rep struct {
		Missing     int
		MissingKeys []string
	}
	json.Unmarshal([]byte(o), &rep)
	if code != verifyDiffers || rep.Missing != 1 || len(rep.MissingKeys) != 1 || rep.MissingKeys[0] != key(5) {
		t.Fatalf("verify after a delete: %d %s", code, o)
	}
	if _, e, code := cli("restore", "--source", src.String(), "--at", at, "--table", table, "--key", key(5)); code != 0 {
		t.Fatalf("restore --key: %d %s", code, e)
	}
	if o, e, code := cli("verify", "--snapshot", snap, "--table", table, "--quiet"); code != 0 {
		t.Fatalf("verify after restore --key: %d\n%s%s", code, o, e)
	}

	o, e, code = cli("history", "--source", src.String(), "--key", key(1))
	if code != 0 || !strings.Contains(o, "2 versions") || !strings.Contains(o, "MODIFY  changed total; added note") || !strings.Contains(o, "INSERT  created with pk, total") {
		t.Fatalf("history: %d\n%s%s", code, o, e)
	}
	o, _, code = cli("history", "--source", src.String(), "--key", key(2), "--json")
	if code != 0 || !strings.Contains(o, `"event":"REMOVE"`) {
		t.Fatalf("history --json: %d %s", code, o)
	}

	// The window is [--from, --to): the changes after the snapshot at "at"
	// (LastModified <= at) start at the next second.
	atT, _ := time.Parse(time.RFC3339, at)
	o, e, code = cli("diff", "--source", src.String(), "--from", atT.Add(time.Second).Format(time.RFC3339), "--quiet")
	lines := strings.Split(strings.TrimSpace(o), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("diff: %d\n%s%s", code, o, e)
	}
	for _, l := range lines {
		var d struct {
			Metadata struct{ WriteTimestampMicros struct{ N string } }
			Keys     map[string]any
			NewImage map[string]any
			OldImage map[string]any
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil || d.Metadata.WriteTimestampMicros.N == "" || len(d.Keys) != 1 || d.OldImage == nil {
			t.Fatalf("diff line %s: %v", l, err)
		}
		pk := d.Keys["pk"].(map[string]any)["S"]
		if (pk == "order#1") != (d.NewImage != nil) {
			t.Fatalf("diff line %s: NewImage should be there for the modify only", l)
		}
	}

	// Bring order#1 and order#2 to their latest state (modified, deleted)
	// one key at a time, then --rewind to the snapshot time: it writes
	// exactly those two keys back and verify passes again.
	for _, i := range []int{1, 2} {
		if _, e, code := cli("restore", "--source", src.String(), "--at", "-0s", "--table", table, "--key", key(i), "--quiet"); code != 0 {
			t.Fatalf("restore --key %d at now: %d %s", i, code, e)
		}
	}
	if _, _, code := cli("verify", "--snapshot", snap, "--table", table, "--quiet"); code != verifyDiffers {
		t.Fatalf("verify after the later changes: %d", code)
	}
	if _, e, code := cli("restore", "--source", src.String(), "--at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--table", table, "--rewind"); code != 2 {
		t.Fatalf("--at in the future: %d %s", code, e)
	}
	o, e, code = cli("restore", "--source", src.String(), "--at", at, "--table", table, "--rewind", "--json", "--quiet")
	var res struct{ Puts, Deletes, Keys, Unchanged int }
	if err := json.Unmarshal([]byte(o), &res); err != nil || code != 0 || res.Puts != 2 || res.Deletes != 0 || res.Keys != 300 || res.Unchanged != 298 {
		t.Fatalf("rewind: %d %+v %s", code, res, e)
	}
	if o, e, code := cli("verify", "--snapshot", snap, "--table", table, "--quiet"); code != 0 {
		t.Fatalf("verify after rewind: %d\n%s%s", code, o, e)
	}
}

func TestRestoreCLIUsage(t *testing.T) {
	for _, args := range [][]string{
		{"restore"},
		{"restore", "--table", "t"},
		{"restore", "--table", "t", "--snapshot", "x", "--source", "s3://b/p/t"},
		{"restore", "--table", "t", "--source", "s3://b/p/t", "--at", "2999-01-01T00:00:00Z"},
		{"restore", "--table", "t", "--source", "s3://b/p/t", "--ranges", "0"},
		{"snapshot", "--source", "s3://b/p/t", "--out", "x", "--ranges", "65537"},
		{"snapshot", "--source", "s3://b/p/t", "--out", "x", "--file-size", "big"},
		{"restore", "--table", "t", "--snapshot", "x", "--rewind"},
		{"restore", "--table", "t", "--source", "s3://b/p/t", "--at", "-1h", "--rewind", "--create-table"},
		{"restore", "--table", "t", "--source", "s3://b/p/t", "--undo"},
		{"restore", "--table", "t", "--source", "s3://b/p/t", "--undo", "--from", "-1h", "--at", "-2h"},
		{"restore", "--table", "t", "--source", "s3://b/p/t", "--undo", "--from", "-1h", "--to", "-2h"},
		{"restore", "--table", "t", "--source", "s3://b/p/t", "--undo", "--from", "-1h", "--rewind"},
		{"restore", "--table", "t", "--source", "s3://b/p/t", "--at", "-1h", "--rewind", "--dry-run"},
		{"restore", "--table", "t", "--snapshot", "x", "--undo", "--from", "-1h"},
		{"verify", "--table", "t"},
		{"history", "--source", "s3://b/p/t"},
		{"history", "--source", "s3://b/p/t", "--key", "{bad"},
		{"diff", "--source", "s3://b/p/t"},
		{"diff", "--source", "s3://b/p/t", "--from", "-1h", "--to", "-2h"},
	} {
		if _, e, code := cli(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)\n%s", args, code, e)
		}
	}
}
