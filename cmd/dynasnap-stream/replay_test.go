package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/backfill"
	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/backuptest"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// streamEvent is a one-record DynamoDB Streams event as Lambda sends it.
func streamEvent(arn, seq, event, id, total string) []byte {
	rec := map[string]any{
		"eventID": "e" + seq, "eventName": event, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
		"awsRegion": "us-east-1", "eventSourceARN": arn,
		"dynamodb": map[string]any{
			"ApproximateCreationDateTime": 1767225600, "SequenceNumber": seq, "SizeBytes": 40,
			"StreamViewType": "NEW_AND_OLD_IMAGES",
			"Keys":           map[string]any{"pk": map[string]string{"S": id}},
			"NewImage":       map[string]any{"pk": map[string]string{"S": id}, "total": map[string]string{"N": total}},
		},
	}
	b, _ := json.Marshal(map[string]any{"Records": []any{rec}})
	return b
}

// TestBootstrapReplayAcrossStreams: under the Lambda emulator, a change
// from a new stream of the same table (deleted and created again, lower
// sequence numbers) becomes the current version; a retry on that stream adds
// nothing and is logged; a backfilled item followed by a stream change of
// the same key keeps both versions.
func TestBootstrapReplayAcrossStreams(t *testing.T) {
	c := testenv.Clients(t)
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	table := testenv.Name("rie")
	oldARN := "arn:aws:dynamodb:us-east-1:123456789012:table/" + table + "/stream/2026-01-01T00:00:00.000"
	newARN := "arn:aws:dynamodb:us-east-1:123456789012:table/" + table + "/stream/2026-06-01T00:00:00.000"
	loc := layout.TableLocation(bucket, "backups", table)
	keyOf := func(id string) string {
		k, _ := item.KeyID(item.Item{"pk": &ddbtypes.AttributeValueMemberS{Value: id}})
		return loc.ObjectKey(k)
	}
	// versions renders a key's versions as "<total>@<stream month>" (no
	// month: no stream recorded).
	versions := func(id string) string {
		t.Helper()
		vs, err := backuptest.History(ctx, c.S3(), bucket, keyOf(id))
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, v := range vs {
			it, err := item.Unmarshal(v.Body)
			if err != nil {
				t.Fatal(err)
			}
			month := ""
			if arn := v.Meta[backup.MetaStreamARN]; arn != "" {
				month = strings.Split(arn, "/stream/")[1][5:7]
			}
			s = append(s, it["total"].(*ddbtypes.AttributeValueMemberN).Value+"@"+month)
		}
		return strings.Join(s, " ")
	}

	var logs syncBuffer
	url := startRIE(t, emulator(t), buildBootstrap(t), &logs, map[string]string{
		"DYNASNAP_BUCKET": bucket,
		"DYNASNAP_PREFIX": "backups",
	})
	noFailures := func(ev []byte) {
		t.Helper()
		if resp := invoke(t, url, ev); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("batchItemFailures %+v; logs:\n%s", resp.BatchItemFailures, logs.String())
		}
	}

	// The case: the old stream's INSERT, then the new stream's, with
	// a sequence number far below.
	noFailures(streamEvent(oldARN, "900000000000000000000001", "INSERT", "order#1", "1"))
	noFailures(streamEvent(newARN, "100000000000000000000001", "INSERT", "order#1", "2"))
	if got := versions("order#1"); got != "1@01 2@06" {
		t.Fatalf("order#1 versions %q, want the new stream's image current (1@01 2@06); logs:\n%s", got, logs.String())
	}
	if !logs.waitFor(`"skipped":0,"skipped_same_stream":0`) {
		t.Errorf("no batch line with zero skips:\n%s", logs.String())
	}
	// Lambda delivers the new stream's batch again: nothing is added, the
	// skip is counted by reason and logged with the object.
	noFailures(streamEvent(newARN, "100000000000000000000001", "INSERT", "order#1", "2"))
	if got := versions("order#1"); got != "1@01 2@06" {
		t.Fatalf("order#1 versions %q after a redelivery", got)
	}
	if !logs.waitFor(`"skipped":1,"skipped_same_stream":1,"skipped_delete_applied":0`,
		`"msg":"change skipped: the bucket holds a version of its stream at or after it","object":"`+keyOf("order#1")+`"`) {
		t.Errorf("no skip counted and logged:\n%s", logs.String())
	}

	// A backfilled item (no sequence number, no stream), then a stream
	// change of the same key: both versions stay.
	db := c.DynamoDB()
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })
	testenv.WaitTable(t, db, table)
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item.Item{
		"pk": &ddbtypes.AttributeValueMemberS{Value: "order#2"}, "total": &ddbtypes.AttributeValueMemberN{Value: "3"}}}); err != nil {
		t.Fatal(err)
	}
	st, err := backfill.Run(ctx, db, c.S3(), backfill.Options{Table: table, Dest: layout.Location{Bucket: bucket, Prefix: "backups"}})
	if err != nil || st.Written != 1 {
		t.Fatalf("backfill: %+v %v", st, err)
	}
	noFailures(streamEvent(newARN, "100000000000000000000002", "MODIFY", "order#2", "4"))
	if got := versions("order#2"); got != "3@ 4@06" {
		t.Fatalf("order#2 versions %q, want the backfilled one and the stream's (3@ 4@06)", got)
	}

	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "order#") {
			t.Errorf("log line holds item contents: %s", line)
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s", logs.String())
	}
}
