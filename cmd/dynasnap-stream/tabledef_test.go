package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/tabledef"
	"github.com/dynasnap/dynasnap/internal/testsupport/ddbapi"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestTableDefinitionEndToEnd: a table keyed pk (S) + sk (N) with two GSIs
// (KEYS_ONLY; INCLUDE), an LSI, capacities, tags, TTL and PITR is backed up
// by the real bootstrap under the Lambda emulator (reading the definition
// through the DynamoDB endpoint) and by backfill; snapshots at a time
// before and after the source gains a GSI hold the old and the new
// definition; restore --create-table (no --key-schema) makes a table whose
// DescribeTable agrees with the source's, verify passes, and every index
// answers the same queries on both tables. dynalite lacks TTL and
// continuous backups: internal/testsupport/ddbapi answers those and records
// the requests, checked here against the API reference's shapes.
func TestTableDefinitionEndToEnd(t *testing.T) {
	c := testenv.Clients(t)
	if testing.Short() {
		t.Skip("builds three binaries")
	}
	ctx := context.Background()
	api := ddbapi.New(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	ddb := ddbAt(c, api.URL)
	bucket := testenv.Bucket(t, c, true)
	table := testenv.Name("tdsrc")
	createSource(t, ddb, table, false)
	api.SetTTL(table, "expiresAt")
	api.SetPITR(table, true)
	items := sourceItems()
	putAll(t, ddb, table, items)

	bootstrap, cli, rie := buildBootstrap(t), buildCLI(t), emulator(t)
	var logs syncBuffer
	url := startRIE(t, rie, bootstrap, &logs, map[string]string{
		"DYNASNAP_BUCKET": bucket, "DYNASNAP_PREFIX": "backups",
		"AWS_ENDPOINT_URL_DYNAMODB": api.URL, "DYNASNAP_DEFINITION_EVERY": "1ms",
	})
	if resp := invoke(t, url, insertEvent(t, table, items[:3])); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %+v; logs:\n%s", resp.BatchItemFailures, logs.String())
	}
	loc := layout.TableLocation(bucket, "backups", table)
	if n := definitionVersions(t, c, loc); n != 1 {
		t.Fatalf("%d definition versions after the first batch, want 1; logs:\n%s", n, logs.String())
	}
	// backfill writes the rest and finds the definition unchanged.
	env := []string{"AWS_ENDPOINT_URL_DYNAMODB=" + api.URL}
	out, errOut, code := run(t, cli, env, "backfill", "--table", table, "--dest", "s3://"+bucket+"/backups", "--quiet")
	if code != 0 || !strings.Contains(out, "table definition: unchanged") {
		t.Fatalf("backfill: exit %d\n%s%s", code, out, errOut)
	}

	// The source gains a GSI. dynalite cannot add one online, so the table
	// is made again with it (a new TableId as well).
	time.Sleep(1100 * time.Millisecond)
	before := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	if _, err := ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ddb, table)
	createSource(t, ddb, table, true)
	putAll(t, ddb, table, items)
	if resp := invoke(t, url, insertEvent(t, table, items[3:4])); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
	if n := definitionVersions(t, c, loc); n != 2 {
		t.Fatalf("%d definition versions after the GSI was added, want 2; logs:\n%s", n, logs.String())
	}

	dir := t.TempDir()
	old, now := filepath.Join(dir, "before"), filepath.Join(dir, "now")
	for _, s := range [][]string{{"--at", before.Format(time.RFC3339), "--out", old}, {"--out", now}} {
		if out, errOut, code := run(t, cli, nil, append([]string{"snapshot", "--source", loc.String(), "--quiet"}, s...)...); code != 0 {
			t.Fatalf("snapshot %v: exit %d\n%s%s", s, code, out, errOut)
		}
	}
	if d := readDef(t, old); len(d.GlobalSecondaryIndexes) != 2 {
		t.Errorf("snapshot before the change: %d GSIs, want 2", len(d.GlobalSecondaryIndexes))
	}
	cur := readDef(t, now)
	if len(cur.GlobalSecondaryIndexes) != 3 {
		t.Errorf("snapshot after the change: %d GSIs, want 3", len(cur.GlobalSecondaryIndexes))
	}
	var sum struct{ TableArn, TableId *string }
	b, _ := os.ReadFile(filepath.Join(now, "manifest-summary.json"))
	json.Unmarshal(b, &sum)
	if sum.TableArn == nil || *sum.TableArn != cur.TableArn || sum.TableId == nil || *sum.TableId != cur.TableId {
		t.Errorf("manifest tableArn/tableId %v/%v, want %s/%s", sum.TableArn, sum.TableId, cur.TableArn, cur.TableId)
	}

	// restore --create-table, no --key-schema: the table as recorded.
	restored := testenv.Name("tdrst")
	out, errOut, code = run(t, cli, env, "restore", "--snapshot", now, "--table", restored, "--create-table", "--warm-write-units", "5000")
	if code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	t.Cleanup(func() {
		ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(restored)})
	})
	for _, want := range []string{"created table " + restored + " as recorded", "1 expired items skipped", "set after the load: TTL on expiresAt, 2 tags, point-in-time recovery",
		"write rate limited by", `"GlobalSecondaryIndexes"`, "ImportTable takes no local secondary indexes"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("restore output lacks %q:\n%s", want, errOut)
		}
	}
	src, rst := describe(t, ddb, table), describe(t, ddb, restored)
	if a, b := normalize(src), normalize(rst); !reflect.DeepEqual(a, b) {
		ja, _ := json.MarshalIndent(a, "", " ")
		jb, _ := json.MarshalIndent(b, "", " ")
		t.Errorf("DescribeTable differs:\nsource %s\nrestored %s", ja, jb)
	}
	out, errOut, code = run(t, cli, env, "verify", "--snapshot", now, "--table", restored, "--quiet")
	if code != 0 || !strings.Contains(out, "definition: key, indexes, TTL attribute and billing mode as recorded") {
		t.Errorf("verify: exit %d\n%s%s", code, out, errOut)
	}
	for _, q := range indexQueries() {
		if a, b := query(t, ddb, table, q), query(t, ddb, restored, q); a != b || a == "[]" {
			t.Errorf("query %s: source %s, restored %s", *q.IndexName, a, b)
		}
	}

	// The requests dynalite cannot serve, checked against the API reference.
	creates := api.Requests("CreateTable", restored)
	if len(creates) != 1 {
		t.Fatalf("%d CreateTable requests for %s", len(creates), restored)
	}
	ct := creates[0]
	checkJSON(t, "CreateTable WarmThroughput", ct["WarmThroughput"], `{"WriteUnitsPerSecond":5000}`)
	checkJSON(t, "CreateTable BillingMode", ct["BillingMode"], `"PROVISIONED"`)
	checkJSON(t, "CreateTable ProvisionedThroughput", ct["ProvisionedThroughput"], `{"ReadCapacityUnits":7,"WriteCapacityUnits":3}`)
	if lsi, _ := ct["LocalSecondaryIndexes"].([]any); len(lsi) != 1 {
		t.Errorf("CreateTable LocalSecondaryIndexes %v", ct["LocalSecondaryIndexes"])
	}
	checkJSON(t, "UpdateTimeToLive", api.Requests("UpdateTimeToLive", restored),
		fmt.Sprintf(`[{"TableName":%q,"TimeToLiveSpecification":{"AttributeName":"expiresAt","Enabled":true}}]`, restored))
	checkJSON(t, "UpdateContinuousBackups", api.Requests("UpdateContinuousBackups", restored),
		fmt.Sprintf(`[{"PointInTimeRecoverySpecification":{"PointInTimeRecoveryEnabled":true},"TableName":%q}]`, restored))

	// Overrides for a DR region: on-demand (no capacity anywhere, GSIs
	// included), another key and class; verify then reports the billing mode.
	dr := testenv.Name("tddr")
	out, errOut, code = run(t, cli, env, "restore", "--snapshot", now, "--table", dr, "--create-table", "--billing-mode", "PAY_PER_REQUEST",
		"--table-kms-key", "alias/dr-key", "--table-class", "STANDARD_INFREQUENT_ACCESS", "--quiet")
	if code != 0 {
		t.Fatalf("restore --billing-mode: exit %d\n%s%s", code, out, errOut)
	}
	t.Cleanup(func() { ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(dr)}) })
	ct = api.Requests("CreateTable", dr)[0]
	checkJSON(t, "DR BillingMode", ct["BillingMode"], `"PAY_PER_REQUEST"`)
	checkJSON(t, "DR SSESpecification", ct["SSESpecification"], `{"Enabled":true,"KMSMasterKeyId":"alias/dr-key","SSEType":"KMS"}`)
	checkJSON(t, "DR TableClass", ct["TableClass"], `"STANDARD_INFREQUENT_ACCESS"`)
	if ct["ProvisionedThroughput"] != nil || ct["WarmThroughput"] != nil {
		t.Errorf("DR CreateTable has capacity: %v", ct)
	}
	for _, g := range ct["GlobalSecondaryIndexes"].([]any) {
		if g.(map[string]any)["ProvisionedThroughput"] != nil {
			t.Errorf("on-demand GSI with ProvisionedThroughput: %v", g)
		}
	}
	out, _, code = run(t, cli, env, "verify", "--snapshot", now, "--table", dr, "--quiet")
	if code != 3 || !strings.Contains(out, "billing mode: recorded PROVISIONED, table PAY_PER_REQUEST") {
		t.Errorf("verify of the on-demand table: exit %d\n%s", code, out)
	}
}

// TestWriterWithoutDefinitionPermission: one warning, items still written.
func TestWriterWithoutDefinitionPermission(t *testing.T) {
	c := testenv.Clients(t)
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	api := ddbapi.New(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	api.Deny("DescribeTable", true)
	bucket := testenv.Bucket(t, c, true)
	var logs syncBuffer
	url := startRIE(t, emulator(t), buildBootstrap(t), &logs, map[string]string{"DYNASNAP_BUCKET": bucket,
		"AWS_ENDPOINT_URL_DYNAMODB": api.URL, "DYNASNAP_DEFINITION_EVERY": "1ms"})
	items := sourceItems()
	for i := 0; i < 2; i++ {
		if resp := invoke(t, url, insertEvent(t, "denied", items[i:i+1])); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("failures %+v", resp.BatchItemFailures)
		}
	}
	if n := strings.Count(logs.String(), "cannot read the table definition"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
	out, err := c.S3().ListObjectVersions(context.Background(), &s3ListInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if n := countKeys(out); n != 2 {
		t.Errorf("%d objects, want the 2 items", n)
	}
}

func ddbAt(c *awsconf.Clients, url string) *dynamodb.Client {
	return dynamodb.NewFromConfig(c.Config, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(url) })
}

func createSource(t *testing.T, ddb *dynamodb.Client, table string, extraGSI bool) {
	t.Helper()
	ctx := context.Background()
	s := func(n string) *string { return aws.String(n) }
	key := func(h, r string) []types.KeySchemaElement {
		ks := []types.KeySchemaElement{{AttributeName: s(h), KeyType: types.KeyTypeHash}}
		if r != "" {
			ks = append(ks, types.KeySchemaElement{AttributeName: s(r), KeyType: types.KeyTypeRange})
		}
		return ks
	}
	pt := func(r, w int64) *types.ProvisionedThroughput {
		return &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(r), WriteCapacityUnits: aws.Int64(w)}
	}
	in := &dynamodb.CreateTableInput{TableName: s(table), KeySchema: key("pk", "sk"), BillingMode: types.BillingModeProvisioned,
		ProvisionedThroughput: pt(7, 3),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: s("pk"), AttributeType: "S"}, {AttributeName: s("sk"), AttributeType: "N"},
			{AttributeName: s("status"), AttributeType: "S"}, {AttributeName: s("customer"), AttributeType: "S"}, {AttributeName: s("created"), AttributeType: "N"}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{IndexName: s("byStatus"), KeySchema: key("status", ""), Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}, ProvisionedThroughput: pt(2, 1)},
			{IndexName: s("byCustomer"), KeySchema: key("customer", "created"), ProvisionedThroughput: pt(4, 2),
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"total", "note"}}},
		},
		LocalSecondaryIndexes: []types.LocalSecondaryIndex{{IndexName: s("byCreated"), KeySchema: key("pk", "created"), Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}},
	}
	if extraGSI {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: s("region"), AttributeType: "S"})
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{IndexName: s("byRegion"), KeySchema: key("region", "sk"),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}, ProvisionedThroughput: pt(1, 1)})
	}
	out, err := ddb.CreateTable(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: s(table)}) })
	testenv.WaitTable(t, ddb, table)
	if _, err := ddb.TagResource(ctx, &dynamodb.TagResourceInput{ResourceArn: out.TableDescription.TableArn,
		Tags: []types.Tag{{Key: s("team"), Value: s("orders")}, {Key: s("env"), Value: s("test")}}}); err != nil {
		t.Fatal(err)
	}
}

func sourceItems() []item.Item {
	future, past := fmt.Sprint(time.Now().Add(48*time.Hour).Unix()), fmt.Sprint(time.Now().Add(-time.Hour).Unix())
	var out []item.Item
	for i, v := range []struct{ pk, status, customer, region string }{
		{"p1", "open", "c1", "eu"}, {"p1", "done", "c1", "us"}, {"p2", "open", "c2", "eu"}, {"p2", "open", "c1", "us"}, {"p3", "done", "c2", "eu"},
	} {
		out = append(out, item.Item{"pk": &types.AttributeValueMemberS{Value: v.pk}, "sk": &types.AttributeValueMemberN{Value: fmt.Sprint(i + 1)},
			"status": &types.AttributeValueMemberS{Value: v.status}, "customer": &types.AttributeValueMemberS{Value: v.customer},
			"region": &types.AttributeValueMemberS{Value: v.region}, "created": &types.AttributeValueMemberN{Value: fmt.Sprint(100 - i)},
			"total": &types.AttributeValueMemberN{Value: fmt.Sprint(10 * i)}, "note": &types.AttributeValueMemberS{Value: "n"},
			"secret": &types.AttributeValueMemberS{Value: "not projected"}, "expiresAt": &types.AttributeValueMemberN{Value: future}})
	}
	// Expired: skipped by restore, in no query below.
	out = append(out, item.Item{"pk": &types.AttributeValueMemberS{Value: "gone"}, "sk": &types.AttributeValueMemberN{Value: "9"},
		"status": &types.AttributeValueMemberS{Value: "expired"}, "expiresAt": &types.AttributeValueMemberN{Value: past}})
	return out
}

func putAll(t *testing.T, ddb *dynamodb.Client, table string, items []item.Item) {
	t.Helper()
	for _, it := range items {
		if _, err := ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
}

// insertEvent is a batch of INSERTs of items in the shape Lambda sends.
func insertEvent(t *testing.T, table string, items []item.Item) []byte {
	t.Helper()
	var recs []map[string]any
	for i, it := range items {
		img, _ := item.Marshal(it)
		key, _ := item.Marshal(item.Item{"pk": it["pk"], "sk": it["sk"]})
		recs = append(recs, map[string]any{"eventID": fmt.Sprint(i), "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
			"awsRegion": "us-east-1", "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/" + table + "/stream/2026-01-01T00:00:00.000",
			"dynamodb": map[string]any{"ApproximateCreationDateTime": time.Now().Unix(), "Keys": json.RawMessage(key), "NewImage": json.RawMessage(img),
				"SequenceNumber": fmt.Sprintf("%024d", time.Now().UnixNano()/1000+int64(i)), "SizeBytes": len(img), "StreamViewType": "NEW_AND_OLD_IMAGES"}})
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return b
}

func definitionVersions(t *testing.T, c *awsconf.Clients, loc layout.Location) int {
	t.Helper()
	key := tabledef.ObjectKey(loc)
	out, err := c.S3().ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(loc.Bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == key {
			n++
		}
	}
	return n
}

func readDef(t *testing.T, dir string) *tabledef.Definition {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "table-definition.json"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := tabledef.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func describe(t *testing.T, ddb *dynamodb.Client, table string) *tabledef.Definition {
	t.Helper()
	d, _, err := tabledef.Describe(context.Background(), ddb, tabledef.Services{}, table)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// normalize leaves what dynalite keeps of a table's shape and settings.
func normalize(d *tabledef.Definition) *tabledef.Definition {
	c := *d
	c.TableName, c.TableArn, c.TableId, c.CreationDateTime, c.Dynasnap = "", "", "", nil, tabledef.Details{}
	return &c
}

func indexQueries() []*dynamodb.QueryInput {
	q := func(index, cond string, vals map[string]types.AttributeValue) *dynamodb.QueryInput {
		return &dynamodb.QueryInput{IndexName: aws.String(index), KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: vals}
	}
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	return []*dynamodb.QueryInput{
		q("byStatus", "#k = :v", map[string]types.AttributeValue{":v": s("open")}),
		q("byCustomer", "#k = :v", map[string]types.AttributeValue{":v": s("c1")}),
		q("byRegion", "#k = :v", map[string]types.AttributeValue{":v": s("eu")}),
		q("byCreated", "#k = :v", map[string]types.AttributeValue{":v": s("p1")}),
	}
}

var indexHash = map[string]string{"byStatus": "status", "byCustomer": "customer", "byRegion": "region", "byCreated": "pk"}

func query(t *testing.T, ddb *dynamodb.Client, table string, q *dynamodb.QueryInput) string {
	t.Helper()
	in := *q
	in.TableName = aws.String(table)
	in.ExpressionAttributeNames = map[string]string{"#k": indexHash[*q.IndexName]}
	out, err := ddb.Query(context.Background(), &in)
	if err != nil {
		t.Fatalf("query %s on %s: %v", *q.IndexName, table, err)
	}
	var lines []string
	for _, it := range out.Items {
		b, _ := item.Marshal(it)
		lines = append(lines, string(b))
	}
	sort.Strings(lines)
	b, _ := json.Marshal(lines)
	if lines == nil {
		return "[]"
	}
	return string(b)
}

func checkJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	b, _ := json.Marshal(got)
	var w any
	json.Unmarshal([]byte(want), &w)
	wb, _ := json.Marshal(w)
	if string(b) != string(wb) {
		t.Errorf("%s: %s, want %s", what, b, wb)
	}
}

func waitGone(t *testing.T, ddb *dynamodb.Client, table string) {
	t.Helper()
	w := dynamodb.NewTableNotExistsWaiter(ddb, func(o *dynamodb.TableNotExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 500*time.Millisecond
	})
	if err := w.Wait(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// buildCLI builds the dynasnap command.
func buildCLI(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "dynasnap")
	cmd := exec.Command("go", "build", "-o", out, "../dynasnap")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build dynasnap: %v\n%s", err, b)
	}
	return out
}

func run(t *testing.T, bin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}
