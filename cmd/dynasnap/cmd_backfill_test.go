package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// backfillCLI runs the command in-process.
func backfillCLI(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	a := &app{stdout: &o, stderr: &e}
	a.commands = commands()
	code = a.main(context.Background(), append([]string{"backfill"}, args...))
	return o.String(), e.String(), code
}

func TestBackfillCLIUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--table", "T"},
		{"--table", "T", "--dest", "not-s3"},
		{"--table", "T", "--dest", "s3://b", "--segments", "0"},
		{"--table", "T", "--dest", "s3://b", "extra"},
		{"--no-such-flag"},
	} {
		_, stderr, code := backfillCLI(args...)
		if code != 2 || !strings.Contains(stderr, "dynasnap backfill") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error", args, code, stderr)
		}
	}
	stdout, _, code := backfillCLI("--help")
	if code != 0 || !strings.Contains(stdout, "--dest") || !strings.Contains(stdout, "Examples") {
		t.Errorf("--help: exit %d, %q", code, stdout)
	}
}

func TestBackfillCLI(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	ddb := c.DynamoDB()
	table := idTable(t, ddb, "cli-backfill")
	for i := range 40 {
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			"id": &types.AttributeValueMemberS{Value: "item-" + strconv.Itoa(i)}, "n": &types.AttributeValueMemberN{Value: strconv.Itoa(i)}}}); err != nil {
			t.Fatal(err)
		}
	}

	unversioned := testenv.Bucket(t, c, false)
	_, stderr, code := backfillCLI("--table", table, "--dest", "s3://"+unversioned+"/x", "--quiet")
	if code != 1 || !strings.Contains(stderr, "versioning") {
		t.Fatalf("unversioned bucket: exit %d, stderr %q", code, stderr)
	}

	bucket := testenv.Bucket(t, c, true)
	cp := t.TempDir() + "/cp.json"
	stdout, stderr, code := backfillCLI("--table", table, "--dest", "s3://"+bucket+"/backups", "--segments", "3", "--checkpoint", cp, "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stderr != "" || !strings.Contains(stdout, "40 written") {
		t.Fatalf("stdout %q, stderr %q", stdout, stderr)
	}
	out, err := c.S3().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("backups/" + table + "/")})
	if err != nil || len(out.Contents) != 40 {
		t.Fatalf("%v, %d objects", err, len(out.Contents))
	}
	// Rerun with the finished checkpoint: nothing is scanned again.
	stdout, _, code = backfillCLI("--table", table, "--dest", "s3://"+bucket+"/backups", "--segments", "3", "--checkpoint", cp, "--quiet")
	if code != 0 || !strings.Contains(stdout, "0 items scanned") {
		t.Fatalf("resume of a finished run: exit %d, %q", code, stdout)
	}
}

// idTable creates an on-demand table keyed by id (S), deleted after the test.
func idTable(t *testing.T, ddb *dynamodb.Client, prefix string) string {
	t.Helper()
	table := testenv.Name(prefix)
	_, err := ddb.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	testenv.WaitTable(t, ddb, table)
	return table
}
