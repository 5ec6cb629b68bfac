package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// snapshot --format parquet (to S3 and local, inferred and declared), then
// athena-ddl for both formats, then restore and verify the Parquet
// snapshot: the DR drill works on Parquet as on JSON lines.
func TestParquetSnapshotAthenaDDLRestoreVerifyCLI(t *testing.T) {
	src := seed(t, 200)
	c := testenv.Clients(t)
	time.Sleep(1100 * time.Millisecond)
	at := time.Now().Truncate(time.Second).Add(-time.Second).UTC().Format(time.RFC3339)

	s3out := "s3://" + src.Bucket + "/exports/orders-pq"
	if _, e, code := cli("snapshot", "--source", src.String(), "--at", at, "--out", s3out, "--format", "parquet", "--quiet"); code != 0 {
		t.Fatalf("snapshot --format parquet to S3: %d %s", code, e)
	}
	o, e, code := cli("athena-ddl", s3out, "--table-name", "orders_pq")
	for _, want := range []string{"CREATE EXTERNAL TABLE IF NOT EXISTS `orders_pq` (", "`pk` string,", "`total` decimal(38,1),",
		"`item` string", "`_last_modified` timestamp", "STORED AS PARQUET", "LOCATION 's3://" + src.Bucket + "/exports/orders-pq/data/'"} {
		if code != 0 || !strings.Contains(o, want) {
			t.Fatalf("athena-ddl of a parquet snapshot: %d, no %q in\n%s%s", code, want, o, e)
		}
	}

	// A declared schema, a local snapshot, and its table-schema.json.
	schema := filepath.Join(t.TempDir(), "orders.json")
	os.WriteFile(schema, []byte(`{"key":[{"name":"pk","type":"S"}],"attributes":[{"name":"total","type":"double","column":"amount"}]}`), 0o644)
	local := filepath.Join(t.TempDir(), "pq")
	if _, e, code := cli("snapshot", "--source", src.String(), "--at", at, "--out", local, "--format", "parquet", "--schema", schema,
		"--row-group-size", "1MiB", "--single-file", "--quiet"); code != 0 {
		t.Fatalf("snapshot --schema: %d %s", code, e)
	}
	if b, err := os.ReadFile(filepath.Join(local, "table-schema.json")); err != nil || !strings.Contains(string(b), `"column": "amount"`) {
		t.Fatalf("table-schema.json: %v\n%s", err, b)
	}
	if _, e, code := cli("athena-ddl", local); code != 2 || !strings.Contains(e, "--location") {
		t.Fatalf("athena-ddl of a local snapshot without --location: %d %s", code, e)
	}
	if o, e, code := cli("athena-ddl", local, "--location", "s3://b/p/snap/"); code != 0 || !strings.Contains(o, "`amount` double COMMENT 'DynamoDB attribute total'") ||
		!strings.Contains(o, "LOCATION 's3://b/p/snap/data/'") || !strings.Contains(o, "CREATE EXTERNAL TABLE IF NOT EXISTS `orders`") {
		t.Fatalf("athena-ddl --location: %d\n%s%s", code, o, e)
	}
	if _, e, code := cli("snapshot", "--source", src.String(), "--out", t.TempDir()+"/x", "--format", "parquet", "--schema", "/nonexistent.json"); code != 2 {
		t.Fatalf("a missing --schema: %d %s", code, e)
	}

	// JSON lines: the JsonSerDe form.
	jl := filepath.Join(t.TempDir(), "jl")
	if _, e, code := cli("snapshot", "--source", src.String(), "--at", at, "--out", jl, "--quiet"); code != 0 {
		t.Fatalf("snapshot: %d %s", code, e)
	}
	if o, e, code := cli("athena-ddl", jl, "--location", "s3://b/p/jl"); code != 0 || !strings.Contains(o, "`Item` struct<pk:struct<s:string>,\n    total:struct<n:string>>") ||
		!strings.Contains(o, "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'") || !strings.Contains(o, "LOCATION 's3://b/p/jl/data/'") {
		t.Fatalf("athena-ddl of a JSON-lines snapshot: %d\n%s%s", code, o, e)
	}

	// Restore and verify read the Parquet snapshot.
	table := testenv.Name("pq")
	t.Cleanup(func() {
		c.DynamoDB().DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	if _, e, code := cli("restore", "--snapshot", s3out, "--table", table, "--create-table", "--checkpoint", filepath.Join(t.TempDir(), "cp")); code != 0 ||
		!strings.Contains(e, "200 items") || strings.Contains(e, "import-table") {
		t.Fatalf("restore of a parquet snapshot: %d\n%s", code, e)
	}
	if o, e, code := cli("verify", "--snapshot", local, "--table", table, "--quiet"); code != 0 || !strings.Contains(o, "OK") {
		t.Fatalf("verify against a parquet snapshot: %d\n%s%s", code, o, e)
	}
}
