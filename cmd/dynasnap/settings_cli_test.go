package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/tabledef"
	"github.com/dynasnap/dynasnap/internal/testsupport/ddbapi"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// settingsSource makes a provisioned table with a GSI and every setting a
// restore leaves to the user on AWS: the stream, two replicas, a resource
// policy, Contributor Insights (table and GSI), a Kinesis destination,
// auto scaling of the table and the GSI. dynalite has none of them: the
// test proxy answers them (and Application Auto Scaling) on its URL.
func settingsSource(t *testing.T, ctx context.Context, ddb *dynamodb.Client, scaling *aas.Client, fn *lambda.Client, table string) {
	t.Helper()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	pt := &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(5)}
	must(ddb.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModeProvisioned, ProvisionedThroughput: pt,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("customer"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String("byCustomer"), ProvisionedThroughput: pt,
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("customer"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}}}))
	t.Cleanup(func() {
		ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	if err := tabledef.WaitIndexes(ctx, ddb, table, time.Minute); err != nil {
		t.Fatal(err)
	}
	must(ddb.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(table),
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages}}))
	for _, r := range []types.CreateReplicationGroupMemberAction{
		{RegionName: aws.String("us-west-2"), KMSMasterKeyId: aws.String("arn:aws:kms:us-west-2:000000000000:key/1234abcd"), TableClassOverride: types.TableClassStandardInfrequentAccess,
			GlobalSecondaryIndexes: []types.ReplicaGlobalSecondaryIndex{{IndexName: aws.String("byCustomer"),
				ProvisionedThroughputOverride: &types.ProvisionedThroughputOverride{ReadCapacityUnits: aws.Int64(7)}}}},
		{RegionName: aws.String("eu-west-1"), ProvisionedThroughputOverride: &types.ProvisionedThroughputOverride{ReadCapacityUnits: aws.Int64(9)}},
	} {
		must(ddb.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(table), ReplicaUpdates: []types.ReplicationGroupUpdate{{Create: &r}}}))
	}
	arn := "arn:aws:dynamodb:us-east-1:000000000000:table/" + table
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:role/reader"},`+
		`"Action":["dynamodb:GetItem","dynamodb:Query"],"Resource":["%s","%s/index/*"]}]}`, arn, arn)
	out, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil || aws.ToString(out.Table.TableArn) != arn {
		t.Fatalf("table ARN %v: %v", out, err)
	}
	// The stream writer's trigger, as deploy/template.json makes it.
	must(fn.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:orders-backup-StreamFunction"),
		EventSourceArn: out.Table.LatestStreamArn, StartingPosition: lambdatypes.EventSourcePositionTrimHorizon, BatchSize: aws.Int32(500),
		MaximumBatchingWindowInSeconds: aws.Int32(1), MaximumRetryAttempts: aws.Int32(10), BisectBatchOnFunctionError: aws.Bool(true),
		FunctionResponseTypes: []lambdatypes.FunctionResponseType{lambdatypes.FunctionResponseTypeReportBatchItemFailures},
		DestinationConfig:     &lambdatypes.DestinationConfig{OnFailure: &lambdatypes.OnFailure{Destination: aws.String("arn:aws:sqs:us-east-1:000000000000:orders-backup-dlq")}}}))
	must(ddb.PutResourcePolicy(ctx, &dynamodb.PutResourcePolicyInput{ResourceArn: aws.String(arn), Policy: aws.String(policy)}))
	must(ddb.UpdateContributorInsights(ctx, &dynamodb.UpdateContributorInsightsInput{TableName: aws.String(table), ContributorInsightsAction: types.ContributorInsightsActionEnable}))
	must(ddb.UpdateContributorInsights(ctx, &dynamodb.UpdateContributorInsightsInput{TableName: aws.String(table), IndexName: aws.String("byCustomer"),
		ContributorInsightsAction: types.ContributorInsightsActionEnable, ContributorInsightsMode: types.ContributorInsightsModeThrottledKeys}))
	must(ddb.EnableKinesisStreamingDestination(ctx, &dynamodb.EnableKinesisStreamingDestinationInput{TableName: aws.String(table),
		StreamArn:                           aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/orders-cdc"),
		EnableKinesisStreamingConfiguration: &types.EnableKinesisStreamingConfiguration{ApproximateCreationDateTimePrecision: types.ApproximateCreationDateTimePrecisionMicrosecond}}))
	for i, id := range []string{"table/" + table, "table/" + table + "/index/byCustomer"} {
		kind := "table"
		if i == 1 {
			kind = "index"
		}
		for j, dim := range []string{"ReadCapacityUnits", "WriteCapacityUnits"} {
			d := aastypes.ScalableDimension("dynamodb:" + kind + ":" + dim)
			must(scaling.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceDynamodb, ResourceId: aws.String(id),
				ScalableDimension: d, MinCapacity: aws.Int32(int32(5 + i)), MaxCapacity: aws.Int32(int32(50 + 10*j))}))
			metric := aastypes.MetricTypeDynamoDBReadCapacityUtilization
			if j == 1 {
				metric = aastypes.MetricTypeDynamoDBWriteCapacityUtilization
			}
			must(scaling.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String(string(metric) + ":" + id), ServiceNamespace: aastypes.ServiceNamespaceDynamodb,
				ResourceId: aws.String(id), ScalableDimension: d, PolicyType: aastypes.PolicyTypeTargetTrackingScaling,
				TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{TargetValue: aws.Float64(70 - float64(5*j)),
					PredefinedMetricSpecification: &aastypes.PredefinedMetricSpecification{PredefinedMetricType: metric},
					ScaleInCooldown:               aws.Int32(60), ScaleOutCooldown: aws.Int32(30)}}))
		}
	}
	for i := range 20 {
		must(ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("order#%d", i)}, "customer": &types.AttributeValueMemberS{Value: fmt.Sprintf("c%d", i%3)}}}))
	}
}

// settingsProxy starts the test proxy and points this process's DynamoDB
// and Application Auto Scaling endpoints (the in-process CLI's too) at it.
func settingsProxy(t *testing.T, c *awsconf.Clients) (*ddbapi.Proxy, *dynamodb.Client, *aas.Client, *lambda.Client) {
	api := ddbapi.New(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", api.URL)
	t.Setenv("AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING", api.URL)
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", api.URL)
	ddb := dynamodb.NewFromConfig(c.Config, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(api.URL) })
	scaling := aas.NewFromConfig(c.Config, func(o *aas.Options) { o.BaseEndpoint = aws.String(api.URL) })
	fn := lambda.NewFromConfig(c.Config, func(o *lambda.Options) { o.BaseEndpoint = aws.String(api.URL) })
	return api, ddb, scaling, fn
}

// TestSettingsRecreated: a provisioned table with auto scaling on the
// table and one GSI, a resource policy, Contributor Insights, a stream,
// two replicas and a Kinesis destination is backed up (backfill records
// the definition), restored with --create-table --replicas, and every
// setting reads back equal, the policy naming the new table's ARN; the
// Kinesis destination is skipped without --kinesis-destinations, and the
// summary says so. Each request is checked against the API reference's
// shape (the proxy refuses a missing required member or a bad enum).
func TestSettingsRecreated(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	api, ddb, scaling, fn := settingsProxy(t, c)
	src, dst := testenv.Name("setsrc"), testenv.Name("setdst")
	settingsSource(t, ctx, ddb, scaling, fn, src)
	bucket := testenv.Bucket(t, c, true)

	out, e, code := cli("backfill", "--table", src, "--dest", "s3://"+bucket+"/backups")
	if code != 0 || !strings.Contains(out+e, "table definition: recorded at") {
		t.Fatalf("backfill: %d\n%s%s", code, out, e)
	}
	rec, partial, err := tabledef.Describe(ctx, ddb, tabledef.Services{Scaling: scaling, Lambda: fn}, src)
	if err != nil || partial != nil {
		t.Fatalf("describe the source: %v %v", err, partial)
	}
	if len(rec.Replicas) != 3 || rec.AutoScaling == nil || len(rec.AutoScaling.ScalableTargets) != 4 || len(rec.AutoScaling.ScalingPolicies) != 4 ||
		len(rec.ContributorInsights) != 2 || len(rec.KinesisDataStreamDestinations) != 1 || rec.ResourcePolicy == "" || rec.StreamSpecification == nil ||
		len(rec.EventSourceMappings) != 1 {
		b, _ := json.MarshalIndent(rec, "", " ")
		t.Fatalf("source definition lacks a setting:\n%s", b)
	}

	t.Cleanup(func() { ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(dst)}) })
	loc := layout.TableLocation(bucket, "backups", src)
	out, e, code = cli("restore", "--source", loc.String(), "--table", dst, "--create-table", "--replicas", "--json", "--checkpoint", filepath.Join(t.TempDir(), "cp"))
	if code != 0 {
		t.Fatalf("restore: %d\n%s%s", code, out, e)
	}
	var sum struct {
		Puts         int64
		Recreated    []string
		NotRecreated []string
		StreamArn    string
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Puts != 20 {
		t.Fatalf("summary %s: %v", out, err)
	}
	for _, want := range []string{"stream NEW_AND_OLD_IMAGES", "resource policy (naming the new table's ARN)", "Contributor Insights on the table",
		"Contributor Insights on index byCustomer", "replica in eu-west-1", "replica in us-west-2", "scaling policy DynamoDBReadCapacityUtilization:table/" + dst} {
		if !slices.Contains(sum.Recreated, want) {
			t.Errorf("recreated %q lacks %q", sum.Recreated, want)
		}
	}
	if len(sum.NotRecreated) != 2 || !strings.Contains(sum.NotRecreated[0], "orders-cdc: not enabled (pass --kinesis-destinations") ||
		sum.NotRecreated[1] != "replica in us-east-1: the restored table is in that region" || sum.StreamArn == "" {
		t.Errorf("not recreated %q, stream %q", sum.NotRecreated, sum.StreamArn)
	}
	if !slices.Contains(sum.Recreated, "stream trigger arn:aws:lambda:us-east-1:000000000000:function:orders-backup-StreamFunction") {
		t.Errorf("the stream writer's trigger was not recreated: %q", sum.Recreated)
	}

	// Every setting reads back equal, names changed to the new table's.
	got, partial, err := tabledef.Describe(ctx, ddb, tabledef.Services{Scaling: scaling, Lambda: fn}, dst)
	if err != nil || partial != nil {
		t.Fatalf("describe the restored table: %v %v", err, partial)
	}
	if d := tabledef.Compare(rec, got); len(d) != 0 {
		t.Errorf("restored table differs: %q", d)
	}
	if !reflect.DeepEqual(got.Replicas, rec.Replicas) || !reflect.DeepEqual(got.ContributorInsights, rec.ContributorInsights) ||
		!reflect.DeepEqual(got.StreamSpecification, rec.StreamSpecification) {
		t.Errorf("replicas, Contributor Insights or stream differ:\n%+v\n%+v", got, rec)
	}
	if len(got.KinesisDataStreamDestinations) != 0 {
		t.Errorf("Kinesis destination enabled without --kinesis-destinations")
	}
	if !strings.Contains(got.ResourcePolicy, got.TableArn+`"`) || !strings.Contains(got.ResourcePolicy, got.TableArn+`/index/*`) ||
		strings.Contains(got.ResourcePolicy, rec.TableArn+`"`) || got.ResourcePolicy != strings.ReplaceAll(rec.ResourcePolicy, rec.TableArn, got.TableArn) {
		t.Errorf("policy not rewritten to %s: %s", got.TableArn, got.ResourcePolicy)
	}
	want, _ := json.Marshal(rec.AutoScaling)
	have, _ := json.Marshal(got.AutoScaling)
	if string(have) != strings.ReplaceAll(string(want), "table/"+src, "table/"+dst) {
		t.Errorf("auto scaling:\nrecorded %s\nrestored %s", want, have)
	}

	// The requests as the API references have them.
	var ups []map[string]any
	for _, r := range api.Requests("UpdateTable", dst) {
		ups = append(ups, r)
	}
	if len(ups) != 3 || !reflect.DeepEqual(ups[0]["StreamSpecification"], map[string]any{"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"}) {
		t.Fatalf("UpdateTable requests %v", ups)
	}
	west := ups[1]["ReplicaUpdates"]
	if regions := fmt.Sprint(ups[1]["ReplicaUpdates"], ups[2]["ReplicaUpdates"]); !strings.Contains(regions, "RegionName:eu-west-1") || !strings.Contains(regions, "RegionName:us-west-2") {
		t.Errorf("ReplicaUpdates %v", regions)
	}
	b, _ := json.Marshal(ups[2]["ReplicaUpdates"])
	if s := string(b); !strings.Contains(s, `{"Create":{`) || !strings.Contains(s, `"TableClassOverride":"STANDARD_INFREQUENT_ACCESS"`) ||
		!strings.Contains(s, `"KMSMasterKeyId":"arn:aws:kms:us-west-2:000000000000:key/1234abcd"`) ||
		!strings.Contains(s, `"GlobalSecondaryIndexes":[{"IndexName":"byCustomer","ProvisionedThroughputOverride":{"ReadCapacityUnits":7}}]`) {
		t.Errorf("us-west-2 replica request %s (eu-west-1: %v)", s, west)
	}
	if p := api.Requests("PutResourcePolicy", ""); len(p) != 2 || p[1]["ResourceArn"] != got.TableArn || p[1]["Policy"] != got.ResourcePolicy {
		t.Errorf("PutResourcePolicy %v", p)
	}
	ci := api.Requests("UpdateContributorInsights", dst)
	if len(ci) != 2 || ci[0]["ContributorInsightsAction"] != "ENABLE" || ci[1]["IndexName"] != "byCustomer" || ci[1]["ContributorInsightsMode"] != "THROTTLED_KEYS" {
		t.Errorf("UpdateContributorInsights %v", ci)
	}
	var regs, pols []map[string]any
	for _, r := range api.Requests("RegisterScalableTarget", "") {
		if strings.HasPrefix(fmt.Sprint(r["ResourceId"]), "table/"+dst) {
			regs = append(regs, r)
		}
	}
	for _, r := range api.Requests("PutScalingPolicy", "") {
		if strings.HasPrefix(fmt.Sprint(r["ResourceId"]), "table/"+dst) {
			pols = append(pols, r)
		}
	}
	if len(regs) != 4 || len(pols) != 4 {
		t.Fatalf("%d RegisterScalableTarget, %d PutScalingPolicy for %s", len(regs), len(pols), dst)
	}
	for _, r := range regs {
		if r["ServiceNamespace"] != "dynamodb" || r["MinCapacity"] == nil || r["MaxCapacity"] == nil || r["RoleARN"] != nil {
			t.Errorf("RegisterScalableTarget %v", r)
		}
	}
	for _, p := range pols {
		tt, _ := p["TargetTrackingScalingPolicyConfiguration"].(map[string]any)
		pm, _ := tt["PredefinedMetricSpecification"].(map[string]any)
		if p["PolicyType"] != "TargetTrackingScaling" || tt["TargetValue"] == nil || pm["PredefinedMetricType"] == nil ||
			!strings.HasSuffix(fmt.Sprint(p["PolicyName"]), ":"+fmt.Sprint(p["ResourceId"])) {
			t.Errorf("PutScalingPolicy %v", p)
		}
	}
	// The trigger reads the new stream from its start, with the recorded settings.
	esm := api.Requests("CreateEventSourceMapping", "")
	if len(esm) != 2 || esm[1]["EventSourceArn"] != sum.StreamArn || esm[1]["StartingPosition"] != "TRIM_HORIZON" ||
		esm[1]["FunctionName"] != "arn:aws:lambda:us-east-1:000000000000:function:orders-backup-StreamFunction" || esm[1]["BatchSize"] != 500.0 ||
		esm[1]["MaximumRetryAttempts"] != 10.0 || esm[1]["BisectBatchOnFunctionError"] != true || fmt.Sprint(esm[1]["FunctionResponseTypes"]) != "[ReportBatchItemFailures]" ||
		fmt.Sprint(esm[1]["DestinationConfig"]) != "map[OnFailure:map[Destination:arn:aws:sqs:us-east-1:000000000000:orders-backup-dlq]]" {
		t.Errorf("CreateEventSourceMapping %v", esm)
	}
	if !reflect.DeepEqual(got.EventSourceMappings, rec.EventSourceMappings) {
		t.Errorf("stream triggers: recorded %+v, restored %+v", rec.EventSourceMappings, got.EventSourceMappings)
	}
	if k := api.Requests("EnableKinesisStreamingDestination", dst); len(k) != 0 {
		t.Errorf("EnableKinesisStreamingDestination %v", k)
	}

	// A snapshot carries the settings; verify compares them.
	snap := filepath.Join(t.TempDir(), "snap")
	if _, e, code := cli("snapshot", "--source", loc.String(), "--out", snap, "--quiet"); code != 0 {
		t.Fatalf("snapshot: %d %s", code, e)
	}
	if o, e, code := cli("verify", "--snapshot", snap, "--table", dst); code != 0 {
		t.Fatalf("verify: %d\n%s%s", code, o, e)
	}
	// drill recreates and compares the same on its scratch table (replicas
	// too with --replicas), then removes its replicas and scalable targets
	// before deleting it.
	prefix := testenv.Name("setdrill")
	o, e, code := cli("drill", "--snapshot", snap, "--table-prefix", prefix, "--replicas", "--json", "--quiet")
	var dr struct {
		Passed       bool
		Failures     []string
		ScratchTable struct {
			Name                    string
			Deleted                 bool
			Recreated, NotRecreated []string
		}
		Definition struct{ Differences []string }
	}
	if err := json.Unmarshal([]byte(o), &dr); err != nil || code != 0 || !dr.Passed || !dr.ScratchTable.Deleted {
		t.Fatalf("drill: %d %v\n%s%s", code, err, o, e)
	}
	scratch := dr.ScratchTable.Name
	if !slices.Contains(dr.ScratchTable.Recreated, "replica in us-west-2") || !slices.Contains(dr.ScratchTable.Recreated, "stream NEW_AND_OLD_IMAGES") ||
		!slices.Contains(dr.ScratchTable.Recreated, "scaling policy DynamoDBWriteCapacityUtilization:table/"+scratch+"/index/byCustomer") {
		t.Errorf("drill recreated %q", dr.ScratchTable.Recreated)
	}
	var deregistered, replicaDeletes int
	for _, r := range api.Requests("DeregisterScalableTarget", "") {
		if strings.HasPrefix(fmt.Sprint(r["ResourceId"]), "table/"+scratch) {
			deregistered++
		}
	}
	for _, r := range api.Requests("UpdateTable", scratch) {
		if strings.Contains(fmt.Sprint(r["ReplicaUpdates"]), "Delete:") {
			replicaDeletes++
		}
	}
	if deregistered != 4 || replicaDeletes != 2 {
		t.Errorf("drill cleanup: %d targets deregistered, %d replicas deleted; want 4 and 2", deregistered, replicaDeletes)
	}

	// Auto scaling changed on the restored table: verify names it.
	if _, err := scaling.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceDynamodb,
		ResourceId: aws.String("table/" + dst), ScalableDimension: aastypes.ScalableDimensionDynamoDBTableReadCapacityUnits, MaxCapacity: aws.Int32(99)}); err != nil {
		t.Fatal(err)
	}
	if o, e, code := cli("verify", "--snapshot", snap, "--table", dst); code == 0 || !strings.Contains(o+e, "auto scaling target table/"+dst+" dynamodb:table:ReadCapacityUnits") {
		t.Errorf("verify after a change: %d\n%s%s", code, o, e)
	}
}

// TestSettingsUnreadable: without the permission to read one setting, the
// backup records the rest and says which permission it lacked, once.
func TestSettingsUnreadable(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	api, ddb, scaling, fn := settingsProxy(t, c)
	src := testenv.Name("setdeny")
	settingsSource(t, ctx, ddb, scaling, fn, src)
	api.Deny("DescribeContributorInsights", true)
	api.Deny("DescribeScalingPolicies", true)
	bucket := testenv.Bucket(t, c, true)
	out, e, code := cli("backfill", "--table", src, "--dest", "s3://"+bucket+"/backups")
	if code != 0 || !strings.Contains(out+e, "recorded in part") || !strings.Contains(out+e, "dynamodb:DescribeContributorInsights") ||
		!strings.Contains(out+e, "application-autoscaling:DescribeScalingPolicies") {
		t.Fatalf("backfill: %d\n%s%s", code, out, e)
	}
	snap := filepath.Join(t.TempDir(), "snap")
	if _, e, code := cli("snapshot", "--source", layout.TableLocation(bucket, "backups", src).String(), "--out", snap, "--quiet"); code != 0 {
		t.Fatalf("snapshot: %d %s", code, e)
	}
	sn, err := snapshot.Open(ctx, store.NewLocal(snap))
	if err != nil {
		t.Fatal(err)
	}
	d, err := sn.Definition(ctx)
	if err != nil || d == nil {
		t.Fatalf("snapshot definition %v: %v", d, err)
	}
	if !reflect.DeepEqual(d.Dynasnap.Unread, []string{tabledef.PartContributors, tabledef.PartAutoScaling}) || d.ContributorInsights != nil || d.AutoScaling != nil ||
		len(d.Replicas) != 3 || d.ResourcePolicy == "" || len(d.KinesisDataStreamDestinations) != 1 {
		t.Errorf("definition: unread %v, insights %v, scaling %v, replicas %d", d.Dynasnap.Unread, d.ContributorInsights, d.AutoScaling, len(d.Replicas))
	}
}
