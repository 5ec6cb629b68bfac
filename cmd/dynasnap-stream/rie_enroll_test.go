package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/enroll"
	"github.com/dynasnap/dynasnap/internal/testsupport/fleetapi"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestEnrollerUnderRIE: the bootstrap with DYNASNAP_MODE=enroll under the
// Lambda emulator, as fleet.json runs it: a scheduled event sweeps, the
// tagged table gets its stream turned on, the writer's mapping and its
// backfill; the report is the invocation's answer.
func TestEnrollerUnderRIE(t *testing.T) {
	c := testenv.Clients(t)
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	ctx := t.Context()
	bucket := testenv.Bucket(t, c, true)
	proxy := fleetapi.New(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	db := c.DynamoDB()
	tagKey := testenv.Name("dynasnap:backup")
	table := testenv.Name("enrolled")
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}}})
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitTable(t, db, table)
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "x"}}}); err != nil {
		t.Fatal(err)
	}
	d, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.TagResource(ctx, &dynamodb.TagResourceInput{ResourceArn: d.Table.TableArn, Tags: []types.Tag{{Key: aws.String(tagKey), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	url := startRIE(t, emulator(t), buildBootstrap(t), &logs, map[string]string{
		"DYNASNAP_MODE": "enroll", "DYNASNAP_BUCKET": bucket, "DYNASNAP_PREFIX": "fleet", "DYNASNAP_LAYOUT": "journal", "DYNASNAP_JOURNAL_LAG": "60s",
		"DYNASNAP_WRITER_FUNCTION": "arn:aws:lambda:us-east-1:123456789012:function:dynasnap-fleet-stream",
		"DYNASNAP_TAG_KEY":         tagKey, "DYNASNAP_ENABLE_STREAMS": "true", "DYNASNAP_BATCH_SIZE": "250", "DYNASNAP_MAX_RETRY_ATTEMPTS": "7",
		"DYNASNAP_FAILURE_QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:dynasnap-failures",
		"AWS_ENDPOINT_URL_DYNAMODB":  proxy.URL, "AWS_ENDPOINT_URL_LAMBDA": proxy.URL,
	})
	event := `{"version":"0","id":"e1","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-12-04T10:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/dynasnap-sweep"],"detail":{}}`
	body, status := post(t, url, []byte(event))
	var rep enroll.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil || status != http.StatusOK {
		t.Fatalf("status %d, %s\n%s", status, body, logs.String())
	}
	var got *enroll.TableResult
	for i := range rep.Tables {
		if rep.Tables[i].Table == table {
			got = &rep.Tables[i]
		}
	}
	if got == nil || got.Outcome != enroll.Enrolled || !got.StreamEnabled || !got.Backfilled || got.MappingCreated == "" {
		t.Fatalf("report %s\n%s", body, logs.String())
	}
	ms := proxy.Mappings()
	if len(ms) != 1 || ms[0].BatchSize != 250 || ms[0].MaximumRetryAttempts != 7 || !strings.HasSuffix(ms[0].FunctionArn, ":function:dynasnap-fleet-stream") {
		t.Errorf("mappings %+v", ms)
	}
	if v := proxy.Violations(); len(v) > 0 {
		t.Errorf("requests off their API reference: %v", v)
	}
	// The backfill wrote a journal base (the stack's layout).
	out, err := c.S3().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("fleet/" + table + "/journal/base/")})
	if err != nil || len(out.Contents) == 0 {
		t.Errorf("no journal base written: %v\n%s", err, logs.String())
	}
	if !logs.waitFor(`"msg":"enrolment done"`) {
		t.Errorf("no enrolment log:\n%s", logs.String())
	}
}
