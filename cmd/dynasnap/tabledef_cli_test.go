package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestOldLayoutWithoutDefinition: a backup written before the definition
// was recorded (or by mapbox/dynamodb-replicator) still restores: a pk + sk
// table needs --key-schema, and the message says the definition is missing.
func TestOldLayoutWithoutDefinition(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	w := backup.New(c.S3(), bucket, "old", "orders")
	for i := range 5 {
		it := item.Item{"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("c#%d", i%2)}, "sk": &types.AttributeValueMemberN{Value: fmt.Sprint(i)},
			"note": &types.AttributeValueMemberS{Value: "x"}}
		if _, err := w.Put(ctx, item.Item{"pk": it["pk"], "sk": it["sk"]}, it, backup.Meta{Source: "backfill"}, backup.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	src := w.Location().String()
	snap := filepath.Join(t.TempDir(), "snap")
	if _, e, code := cli("snapshot", "--source", src, "--out", snap); code != 0 || !strings.Contains(e, "no table definition in the snapshot: the backup records no table definition") {
		t.Fatalf("snapshot: %d\n%s", code, e)
	}
	table := testenv.Name("old")
	t.Cleanup(func() {
		c.DynamoDB().DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	_, e, code := cli("restore", "--snapshot", snap, "--table", table, "--create-table", "--quiet")
	if code == 0 || !strings.Contains(e, "pass --key-schema") || !strings.Contains(e, "holds no table-definition.json") {
		t.Fatalf("restore without --key-schema: %d\n%s", code, e)
	}
	_, e, code = cli("restore", "--source", src, "--table", table, "--create-table", "--quiet")
	if code == 0 || !strings.Contains(e, "pass --key-schema") || !strings.Contains(e, "orders.dynasnap-table-definition.json") {
		t.Fatalf("restore --source without --key-schema: %d\n%s", code, e)
	}
	_, e, code = cli("restore", "--snapshot", snap, "--table", table, "--create-table", "--key-schema", "pk:S,sk:N")
	if code != 0 || !strings.Contains(e, "with the key only") {
		t.Fatalf("restore --key-schema: %d\n%s", code, e)
	}
	if o, e, code := cli("verify", "--snapshot", snap, "--table", table, "--quiet"); code != 0 || !strings.Contains(o, "not compared, the snapshot records none") {
		t.Fatalf("verify: %d\n%s%s", code, o, e)
	}
}
