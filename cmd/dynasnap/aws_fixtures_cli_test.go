package main

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// AWS's own exports, reproduced from AWS's documented examples under
// testdata/aws-exports: the full export
// restores by its folder and by the folder above AWSDynamoDB/, verify and
// drill read it, and restore --changes applies the incremental export,
// after which the table is the "after" export.
func TestAWSExportFixturesCLI(t *testing.T) {
	ddb := testenv.Clients(t).DynamoDB()
	const (
		full  = "../../testdata/aws-exports/full"
		inc   = "../../testdata/aws-exports/incremental"
		after = "../../testdata/aws-exports/after"
	)
	for _, snap := range []string{full, full + "/AWSDynamoDB/01234567890123-a1b2c3d4"} {
		table := testenv.Name("awsfx")
		t.Cleanup(func() {
			ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		})
		if _, e, code := cli("restore", "--snapshot", snap, "--table", table, "--create-table", "--key-schema", "Id:N", "--checkpoint", t.TempDir()+"/cp", "--quiet"); code != 0 {
			t.Fatalf("restore --snapshot %s: %d %s", snap, code, e)
		}
		if o, e, code := cli("verify", "--snapshot", snap, "--table", table, "--quiet"); code != 0 {
			t.Fatalf("verify %s: %d %s%s", snap, code, o, e)
		}
		if _, e, code := cli("restore", "--changes", inc, "--table", table, "--quiet"); code != 0 {
			t.Fatalf("restore --changes: %d %s", code, e)
		}
		if o, e, code := cli("verify", "--snapshot", after, "--table", table, "--quiet"); code != 0 {
			t.Fatalf("verify after the changes: %d %s%s", code, o, e)
		}
	}
	prefix := testenv.Name("awsdrill")
	if o, e, code := cli("drill", "--snapshots", full, "--table-prefix", prefix, "--key-schema", "Id:N", "--quiet"); code != 0 {
		t.Fatalf("drill --snapshots: %d %s%s", code, o, e)
	}
	if o, e, code := cli("drill", "--snapshot", full, "--table-prefix", prefix, "--key-schema", "Id:N", "--quiet"); code != 0 {
		t.Fatalf("drill --snapshot (parent folder): %d %s%s", code, o, e)
	}
	// Two exports under one folder: name them and ask for one.
	if _, e, code := cli("verify", "--snapshot", "../../testdata", "--table", "x", "--quiet"); code == 0 {
		t.Fatalf("verify of a folder with no export: %d %s", code, e)
	}
}
