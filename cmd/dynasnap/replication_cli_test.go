package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestReplicationAttributes: a legacy global table's (2017.11.29) items
// carry aws:rep:updateregion, aws:rep:updatetime and aws:rep:deleting. A
// snapshot leaves them out unless --keep-replication-attributes; restore
// never writes them back, from a snapshot that kept them nor from versions.
func TestReplicationAttributes(t *testing.T) {
	c := testenv.Clients(t)
	s3c, ddb := c.S3(), c.DynamoDB()
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "backups", "legacy")
	const n = 30
	for i := range n {
		// order#3's note holds the text "aws:rep:" in a value: kept.
		body := fmt.Sprintf(`{"pk":{"S":"order#%d"},"total":{"N":"%d"},"note":{"S":"see \"aws:rep:x\""},`+
			`"aws:rep:updateregion":{"S":"us-east-1"},"aws:rep:updatetime":{"N":"1764840000.%06d"},"aws:rep:deleting":{"BOOL":false}}`, i, i, i)
		it, err := item.Unmarshal([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := item.KeyID(it, "pk")
		b, _ := item.Marshal(it)
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(src.ObjectKey(id)), Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
	}
	hasRep := func(items map[string]string) int {
		k := 0
		for _, s := range items {
			if strings.Contains(s, `"aws:rep:updateregion"`) || strings.Contains(s, `"aws:rep:updatetime"`) || strings.Contains(s, `"aws:rep:deleting"`) {
				k++
			}
			if !strings.Contains(s, `aws:rep:x`) {
				t.Errorf("a value holding aws:rep: was changed: %s", s)
			}
		}
		return k
	}
	plain, kept := filepath.Join(t.TempDir(), "plain"), filepath.Join(t.TempDir(), "kept")
	if _, e, code := cli("snapshot", "--source", src.String(), "--out", plain, "--quiet"); code != 0 {
		t.Fatalf("snapshot: %d %s", code, e)
	}
	if _, e, code := cli("snapshot", "--source", src.String(), "--out", kept, "--keep-replication-attributes", "--quiet"); code != 0 {
		t.Fatalf("snapshot --keep-replication-attributes: %d %s", code, e)
	}
	if got := snapshotItems(t, plain, "pk"); len(got) != n || hasRep(got) != 0 {
		t.Fatalf("snapshot without the flag: %d items, %d with aws:rep:*", len(got), hasRep(got))
	}
	if got := snapshotItems(t, kept, "pk"); len(got) != n || hasRep(got) != n {
		t.Fatalf("snapshot with --keep-replication-attributes: %d items, %d with aws:rep:*", len(got), hasRep(got))
	}
	for _, from := range [][]string{{"--snapshot", kept}, {"--source", src.String()}} {
		table := testenv.Name("rep")
		t.Cleanup(func() {
			ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		})
		args := append([]string{"restore", "--table", table, "--create-table", "--key-schema", "pk:S", "--quiet", "--checkpoint", filepath.Join(t.TempDir(), "cp")}, from...)
		if _, e, code := cli(args...); code != 0 {
			t.Fatalf("restore %v: %d %s", from, code, e)
		}
		out, err := ddb.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, it := range out.Items {
			b, _ := item.Marshal(it)
			got[string(b)] = string(b)
		}
		if len(got) != n || hasRep(got) != 0 {
			t.Fatalf("restore %v: %d items, %d with aws:rep:*", from, len(got), hasRep(got))
		}
		// verify holds the table to the snapshot that kept them: equal.
		if o, e, code := cli("verify", "--snapshot", kept, "--table", table, "--quiet"); code != 0 {
			t.Fatalf("verify: %d %s%s", code, o, e)
		}
	}
}
