package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// ttlEvent is a one-record event: an INSERT of pk, or its REMOVE, made by
// TTL when ttl (userIdentity as DynamoDB Streams sets it), stamped now.
func ttlEvent(arn string, seq int, event, pk string, ttl bool) []byte {
	img := map[string]any{"pk": map[string]string{"S": pk}, "expires": map[string]string{"N": "1700000000"}}
	ch := map[string]any{"ApproximateCreationDateTime": time.Now().Unix(), "SequenceNumber": fmt.Sprintf("%021d", seq), "SizeBytes": 40,
		"StreamViewType": "NEW_AND_OLD_IMAGES", "Keys": map[string]any{"pk": map[string]string{"S": pk}}}
	if event == "REMOVE" {
		ch["OldImage"] = img
	} else {
		ch["NewImage"] = img
	}
	rec := map[string]any{"eventID": fmt.Sprint("e", seq), "eventName": event, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
		"awsRegion": "us-east-1", "eventSourceARN": arn, "dynamodb": ch}
	if ttl {
		rec["userIdentity"] = map[string]string{"type": "Service", "principalId": "dynamodb.amazonaws.com"}
	}
	b, _ := json.Marshal(map[string]any{"Records": []any{rec}})
	return b
}

// TestBootstrapTTLUnderRIE: under the Lambda emulator, on both layouts, a
// TTL REMOVE and an application REMOVE of two items: history shows one
// expired and one deleted, diff counts them apart, and restore --rewind to
// before both puts back only the one the application deleted
// (--include-expired puts back both).
func TestBootstrapTTLUnderRIE(t *testing.T) {
	c := testenv.Clients(t)
	if testing.Short() {
		t.Skip("builds three binaries")
	}
	bootstrap, cli, rie := buildBootstrap(t), buildCLI(t), emulator(t)
	for _, lay := range []string{"items", "journal"} {
		t.Run(lay, func(t *testing.T) {
			ctx := context.Background()
			bucket := testenv.Bucket(t, c, true)
			table := testenv.Name("ttl")
			ddb := c.DynamoDB()
			if _, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
			})
			testenv.WaitTable(t, ddb, table)
			var logs syncBuffer
			url := startRIE(t, rie, bootstrap, &logs, map[string]string{
				"DYNASNAP_BUCKET": bucket, "DYNASNAP_PREFIX": "backups", "DYNASNAP_TABLE": "Orders",
				"DYNASNAP_LAYOUT": lay, "DYNASNAP_JOURNAL_LAG": "2s", "DYNASNAP_RECORD_DEFINITION": "false",
			})
			arn := "arn:aws:dynamodb:us-east-1:123456789012:table/" + table + "/stream/2026-01-01T00:00:00.000"
			key := func(pk string) map[string]types.AttributeValue {
				return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}
			}
			for i, pk := range []string{"app", "ttl"} {
				it := key(pk)
				it["expires"] = &types.AttributeValueMemberN{Value: "1700000000"}
				if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
					t.Fatal(err)
				}
				if r := invoke(t, url, ttlEvent(arn, 10+i, "INSERT", pk, false)); len(r.BatchItemFailures) > 0 {
					t.Fatalf("insert: %+v\n%s", r, logs.String())
				}
			}
			// T: after both puts, before both deletes.
			now := time.Now()
			at := now.Truncate(time.Second)
			time.Sleep(at.Add(time.Second + 50*time.Millisecond).Sub(now))
			for i, pk := range []string{"app", "ttl"} {
				if _, err := ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key(pk)}); err != nil {
					t.Fatal(err)
				}
				if r := invoke(t, url, ttlEvent(arn, 20+i, "REMOVE", pk, pk == "ttl")); len(r.BatchItemFailures) > 0 {
					t.Fatalf("remove: %+v\n%s", r, logs.String())
				}
			}
			if lay == "items" && !logs.waitFor(`"expired":1`) {
				t.Errorf("no TTL delete counted in the batch log:\n%s", logs.String())
			}
			time.Sleep(1100 * time.Millisecond)
			src := layout.TableLocation(bucket, "backups", "Orders").String()

			o, e, code := run(t, cli, nil, "history", "--source", src, "--key", `{"pk":{"S":"ttl"}}`)
			if code != 0 || !strings.Contains(o, "expired") || strings.Contains(o, "deleted") || !strings.Contains(o, "2 versions") {
				t.Fatalf("history of the TTL-deleted item: %d\n%s%s", code, o, e)
			}
			o, e, code = run(t, cli, nil, "history", "--source", src, "--key", `{"pk":{"S":"app"}}`)
			if code != 0 || !strings.Contains(o, "item deleted") || strings.Contains(o, "expired") {
				t.Fatalf("history of the deleted item: %d\n%s%s", code, o, e)
			}
			o, e, code = run(t, cli, nil, "history", "--source", src, "--key", `{"pk":{"S":"ttl"}}`, "--json")
			if code != 0 || !strings.Contains(o, `"expired":true`) {
				t.Fatalf("history --json: %d\n%s%s", code, o, e)
			}
			o, e, code = run(t, cli, nil, "diff", "--source", src, "--from", at.UTC().Format(time.RFC3339), "--key-schema", "pk:S")
			if code != 0 || strings.Count(o, "\n") != 2 || strings.Count(o, `"Expired":{"BOOL":true}`) != 1 || !strings.Contains(e, "1 removed, 1 expired") {
				t.Fatalf("diff: %d\n%s%s", code, o, e)
			}

			o, e, code = run(t, cli, nil, "restore", "--source", src, "--at", at.UTC().Format(time.RFC3339), "--table", table, "--rewind", "--json")
			var rep struct{ Puts, Deletes, ExpiredSkipped int64 }
			json.Unmarshal([]byte(o), &rep)
			if code != 0 || rep.Puts != 1 || rep.Deletes != 0 || rep.ExpiredSkipped != 1 {
				t.Fatalf("rewind: %d %+v\n%s%s", code, rep, o, e)
			}
			for pk, want := range map[string]bool{"app": true, "ttl": false} {
				out, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key(pk), ConsistentRead: aws.Bool(true)})
				if err != nil {
					t.Fatal(err)
				}
				if got := len(out.Item) > 0; got != want {
					t.Errorf("after the rewind, %s present: %v, want %v", pk, got, want)
				}
			}
			if _, e, code := run(t, cli, nil, "restore", "--source", src, "--at", at.UTC().Format(time.RFC3339), "--table", table, "--rewind", "--include-expired"); code != 0 {
				t.Fatalf("rewind --include-expired: %d\n%s", code, e)
			}
			if out, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("ttl"), ConsistentRead: aws.Bool(true)}); err != nil || len(out.Item) == 0 {
				t.Errorf("rewind --include-expired did not put back the expired item: %v", err)
			}
		})
	}
}
