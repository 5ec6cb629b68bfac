package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/testsupport/reliability"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestReliabilitySecurity: the secret key never appears in any command's
// output, whether the endpoint is unreachable or the server refuses the
// signature; output inside the backup prefix is refused; restore refuses a
// table that holds items.
func TestReliabilitySecurity(t *testing.T) {
	c := testenv.Clients(t)
	src, _, at := relSeed(t, c, 30)
	snap := filepath.Join(t.TempDir(), "snap")
	if _, e, code := run(t, "snapshot", "--source", src.String(), "--at", at, "--out", snap, "--quiet"); code != 0 {
		t.Fatal(e)
	}
	table := relTable(t, c.DynamoDB())

	// Every command, against a closed port and against the real servers
	// with a wrong secret; 2 attempts keep the closed-port runs short.
	cmds := [][]string{
		{"snapshot", "--source", src.String(), "--out", filepath.Join(t.TempDir(), "s")},
		{"restore", "--snapshot", snap, "--table", table},
		{"restore", "--source", src.String(), "--at", at, "--table", table},
		{"verify", "--snapshot", snap, "--table", table},
		{"history", "--source", src.String(), "--key", `{"pk":{"S":"order#1"}}`},
		{"diff", "--source", src.String(), "--from", "-1h"},
		{"backfill", "--table", table, "--dest", "s3://" + src.Bucket + "/elsewhere"},
	}
	for _, where := range []struct{ name, env string }{
		{"unreachable endpoint", "AWS_ENDPOINT_URL=http://127.0.0.1:1"},
		{"wrong secret", ""},
	} {
		failed, leaks := 0, 0
		for _, args := range cmds {
			env := []string{"AWS_SECRET_ACCESS_KEY=" + relSecret, "AWS_MAX_ATTEMPTS=2"}
			if where.env != "" {
				env = append(env, where.env, "AWS_ENDPOINT_URL_S3=", "AWS_ENDPOINT_URL_DYNAMODB=")
			}
			o, e, code := relRun(t, env, args...)
			if code != 0 {
				failed++
			}
			if strings.Contains(o+e, relSecret) || strings.Contains(o+e, relSecret[:16]) {
				leaks++
				t.Errorf("%s, %v: the secret key is in the output:\n%s%s", where.name, args, o, e)
			}
		}
		reliability.Record(t, reliability.Result{Area: "security", Tried: "secret key in output: all 7 commands (snapshot, restore x2, verify, history, diff, backfill), " + where.name,
			Outcome: itoa(failed) + " of 7 fail (dynalite does not check signatures); the secret appears in no output: " + itoa(leaks) + " leaks", Exit: -1})
	}

	relCase{area: "security", tried: "snapshot --out inside the backup prefix", args: []string{"snapshot", "--source", src.String(),
		"--out", "s3://" + src.Bucket + "/backups/orders-copy"}, code: 2, want: []string{"inside the backup prefix"},
		outcome: "refused, exit 2, before any request"}.check(t)
	relCase{area: "security", tried: "snapshot --out inside the table's own backup folder", args: []string{"snapshot", "--source", src.String(),
		"--out", src.String() + "/snap"}, code: 2, want: []string{"overlaps"}, outcome: "refused, exit 2, before any request"}.check(t)

	full := relTable(t, c.DynamoDB())
	if _, err := c.DynamoDB().PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(full),
		Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "live"}}}); err != nil {
		t.Fatal(err)
	}
	relCase{area: "security", tried: "restore into a table that holds items (no --overwrite)", args: []string{"restore", "--snapshot", snap,
		"--table", full, "--checkpoint", filepath.Join(t.TempDir(), "cp.json")}, code: 1, want: []string{"already holds items"},
		outcome: "refused, exit 1, nothing written"}.check(t)
	if n := len(relTableModel(t, c.DynamoDB(), full)); n != 1 {
		t.Fatalf("the refused restore wrote: the table holds %d items", n)
	}
}
