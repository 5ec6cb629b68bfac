package main

import (
	"strings"
	"testing"
)

// athena-ddl on AWS's own exports (testdata/aws-exports), by the folder
// above AWSDynamoDB/: both styles of a full export and the DDL of an
// incremental one, LOCATION the export's data/ folder under --location.
// Local folders only: no stack needed.
func TestAthenaDDLAWSExportsCLI(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	const (
		full = "../../testdata/aws-exports/full"
		inc  = "../../testdata/aws-exports/incremental"
	)
	o, e, code := cli("athena-ddl", full, "--location", "s3://b/full/")
	for _, want := range []string{"CREATE EXTERNAL TABLE IF NOT EXISTS `productcatalog` (\n  `Item` struct<",
		"isbn:struct<s:string>", "'mapping.isbn'='ISBN'", "'mapping.item'='Item'", "'case.insensitive'='FALSE'",
		"COMMENT 'DynamoDB export of arn:aws:dynamodb:us-east-1:123456789012:table/ProductCatalog at 2020-11-04T07:28:34Z'",
		"LOCATION 's3://b/full/AWSDynamoDB/01234567890123-a1b2c3d4/data/';"} {
		if code != 0 || !strings.Contains(o, want) {
			t.Fatalf("athena-ddl (struct): %d, no %q in\n%s%s", code, want, o, e)
		}
	}
	o, e, code = cli("athena-ddl", full+"/AWSDynamoDB/01234567890123-a1b2c3d4", "--style", "map", "--location", "s3://b/x", "--table-name", "pc")
	if code != 0 || !strings.Contains(o, "CREATE EXTERNAL TABLE IF NOT EXISTS `pc` (\n  `Item` map<string,struct<s:string,") ||
		!strings.Contains(o, "LOCATION 's3://b/x/data/';") {
		t.Fatalf("athena-ddl --style map: %d\n%s%s", code, o, e)
	}
	o, e, code = cli("athena-ddl", inc, "--location", "s3://b/inc")
	for _, want := range []string{"`Metadata` struct<writetimestampmicros:struct<n:string>>", "`Keys` map<string,struct<", "`NewImage` map<string,",
		"`OldImage` map<string,", "'mapping.newimage'='NewImage'", "over [2020-11-04T07:28:34.028Z, 2020-11-04T09:00:00Z)",
		"LOCATION 's3://b/inc/AWSDynamoDB/01695097218000-d6299cbd/data/';"} {
		if code != 0 || !strings.Contains(o, want) {
			t.Fatalf("athena-ddl of an incremental export: %d, no %q in\n%s%s", code, want, o, e)
		}
	}
	if _, e, code := cli("athena-ddl", inc, "--location", "s3://b/inc", "--style", "struct"); code != 2 || !strings.Contains(e, "map style") {
		t.Fatalf("--style struct on an incremental export: %d %s", code, e)
	}
	if _, e, code := cli("athena-ddl", full, "--location", "s3://b/full", "--style", "wide"); code != 2 || !strings.Contains(e, "--style") {
		t.Fatalf("--style wide: %d %s", code, e)
	}
}
