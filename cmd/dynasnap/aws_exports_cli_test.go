package main

import (
	"context"
	"fmt"
	"os"
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

// The round trip of issue #18: a snapshot at T1 (in AWS's layout, read by
// its parent folder), diff --from T1 --to T2 --out, restore the T1
// snapshot into a new table, restore --changes the diff into it, and
// verify against the snapshot at T2. The window holds a change stamped
// exactly T1, puts, modifies, deletes, an item created (at T1) and deleted,
// one deleted and re-created, and one changed and changed back.
func TestIncrementalRoundTripCLI(t *testing.T) {
	src := seed(t, 40)
	c := testenv.Clients(t)
	s3c, ddb := c.S3(), c.DynamoDB()
	ctx := context.Background()
	objectKey := func(pk string) string {
		k, _ := item.Unmarshal([]byte(fmt.Sprintf(`{"pk":{"S":%q}}`, pk)))
		id, _ := item.KeyID(k)
		return src.ObjectKey(id)
	}
	put := func(pk, v string) time.Time {
		t.Helper()
		body := fmt.Sprintf(`{"pk":{"S":%q},"total":{"N":"1"},"v":{"S":%q}}`, pk, v)
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src.Bucket), Key: aws.String(objectKey(pk)), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		h, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(src.Bucket), Key: aws.String(objectKey(pk))})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToTime(h.LastModified)
	}
	del := func(pk string) {
		t.Helper()
		if _, err := s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(src.Bucket), Key: aws.String(objectKey(pk))}); err != nil {
			t.Fatal(err)
		}
	}
	nextSecond := func() {
		now := time.Now()
		time.Sleep(now.Truncate(time.Second).Add(time.Second + 100*time.Millisecond).Sub(now))
	}
	nextSecond()
	// T1 is the LastModified of this change: it is exactly at T1.
	t1 := put("order#1", "at-t1")
	created := put("new#a", "created")
	put("order#4", "changed")
	if !created.Equal(t1) {
		t.Logf("new#a landed at %s, not T1 %s", created, t1)
	}
	nextSecond()
	put("order#1", "later")
	del("order#2")
	put("new#b", "inserted")
	del("new#a")
	del("order#3")
	put("order#3", "re-created")
	put("order#4", "changed")
	put("order#4", "1") // back to... a different image than seed's, still a change
	nextSecond()
	t2 := time.Now().Truncate(time.Second) // nothing is stamped in this second
	T1, T2 := t1.UTC().Format(time.RFC3339), t2.UTC().Format(time.RFC3339)

	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if _, e, code := cli("snapshot", "--source", src.String(), "--at", T1, "--out", full, "--layout", "aws", "--quiet"); code != 0 {
		t.Fatalf("snapshot --layout aws: %d %s", code, e)
	}
	if m, _ := filepath.Glob(filepath.Join(full, "AWSDynamoDB", "*", "manifest-summary.md5")); len(m) != 1 {
		t.Fatalf("no AWSDynamoDB/<id>/manifest-summary.md5: %v", m)
	}
	changes := filepath.Join(dir, "changes")
	if _, e, code := cli("diff", "--source", src.String(), "--from", T1, "--to", T2, "--out", changes); code != 0 || !strings.Contains(e, "incremental export of") {
		t.Fatalf("diff --out: %d %s", code, e)
	}
	sums, _ := filepath.Glob(filepath.Join(changes, "AWSDynamoDB", "*", "manifest-summary.json"))
	if len(sums) != 1 {
		t.Fatalf("diff --out: %v", sums)
	}
	b, _ := os.ReadFile(sums[0])
	for _, want := range []string{`"exportType": "INCREMENTAL_EXPORT"`, `"outputView": "NEW_AND_OLD_IMAGES"`, `"exportFromTime": "` + t1.UTC().Format("2006-01-02T15:04:05.000Z")} {
		if !strings.Contains(string(b), want) {
			t.Errorf("incremental summary lacks %s:\n%s", want, b)
		}
	}

	table := testenv.Name("inc")
	t.Cleanup(func() {
		ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	if _, e, code := cli("restore", "--snapshot", full, "--table", table, "--create-table", "--checkpoint", filepath.Join(dir, "cp"), "--quiet"); code != 0 {
		t.Fatalf("restore --snapshot (parent folder): %d %s", code, e)
	}
	if _, e, code := cli("restore", "--snapshot", changes, "--table", table, "--overwrite"); code == 0 || !strings.Contains(e, "restore --changes") {
		t.Fatalf("restore --snapshot of an incremental export: %d %s", code, e)
	}
	if _, e, code := cli("restore", "--changes", full, "--table", table); code == 0 || !strings.Contains(e, "full export") {
		t.Fatalf("restore --changes of a full export: %d %s", code, e)
	}
	o, e, code := cli("restore", "--changes", changes, "--table", table)
	if code != 0 {
		t.Fatalf("restore --changes: %d %s%s", code, o, e)
	}
	at2 := filepath.Join(dir, "t2")
	if _, e, code := cli("snapshot", "--source", src.String(), "--at", T2, "--out", at2, "--quiet"); code != 0 {
		t.Fatalf("snapshot at T2: %d %s", code, e)
	}
	if o, e, code := cli("verify", "--snapshot", at2, "--table", table, "--quiet"); code != 0 {
		t.Fatalf("verify against the snapshot at T2: %d\n%s%s", code, o, e)
	}
	// And the T1 snapshot no longer matches: the changes were applied.
	if _, _, code := cli("verify", "--snapshot", full, "--table", table, "--quiet"); code != verifyDiffers {
		t.Fatalf("verify against T1: %d", code)
	}
}
