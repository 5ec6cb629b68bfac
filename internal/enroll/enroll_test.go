package enroll_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/backfill"
	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/enroll"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/status"
	"github.com/dynasnap/dynasnap/internal/stream"
	"github.com/dynasnap/dynasnap/internal/testsupport/fleetapi"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

const dlq = "arn:aws:sqs:us-east-1:123456789012:dynasnap-failures"

// TestEnrolFleet: five tables on dynalite, three tagged (one with its
// stream off); the AWS APIs dynalite lacks (streams, Lambda's event source
// mappings) answered by fleetapi, which checks each request against its
// API reference. The sweep enrols the three: streams on, the writer
// attached with the template's settings, backfilled; the writer then
// writes their changes. Untagging one (its event) removes its mapping and
// keeps its backup; a sweep after missed events (a table tagged, one
// deleted) repairs both.
func TestEnrolFleet(t *testing.T) {
	c := testenv.Clients(t)
	ctx := t.Context()
	bucket := testenv.Bucket(t, c, true)
	proxy := fleetapi.New(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	direct := c.DynamoDB()
	viaProxy := dynamodb.NewFromConfig(c.Config, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(proxy.URL) })
	tagKey := testenv.Name("dynasnap:backup") // this run's tables only: dynalite keeps other tests' tables

	names := map[string]string{}
	arns := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		name := testenv.Name("fleet-" + n)
		names[n] = name
		_, err := direct.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}}})
		if err != nil {
			t.Fatal(err)
		}
		testenv.WaitTable(t, direct, name)
		d, err := direct.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		arns[n] = aws.ToString(d.Table.TableArn)
		for i := range 3 {
			_, err := direct.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("k%d", i)}, "v": &types.AttributeValueMemberN{Value: "1"}}})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	tag := func(n, value string) {
		t.Helper()
		_, err := direct.TagResource(ctx, &dynamodb.TagResourceInput{ResourceArn: aws.String(arns[n]), Tags: []types.Tag{{Key: aws.String(tagKey), Value: aws.String(value)}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	tag("a", "true")
	tag("b", "true")
	tag("c", "true")
	tag("d", "false")
	// a and b stream already; c's is off (the enroller turns it on).
	for _, n := range []string{"a", "b"} {
		_, err := viaProxy.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(names[n]),
			StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages}})
		if err != nil {
			t.Fatal(err)
		}
	}

	backups := layout.Location{Bucket: bucket, Prefix: "dynasnap"}
	s3c := c.S3()
	e := &enroll.Enroller{
		DynamoDB: viaProxy,
		Lambda:   &enroll.LambdaClient{Endpoint: proxy.URL, Config: c.Config},
		S3:       s3c,
		Log:      slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Config: enroll.Config{TagKey: tagKey, TagValue: "true", Function: "dynasnap-fleet-stream", EnableStreams: true,
			Mapping: enroll.MappingSettings{BatchSize: 100, MaximumRetryAttempts: 5, OnFailure: dlq},
			Backups: backups, Results: status.DefaultResults(backups),
			Backfill: func(ctx context.Context, table string) error {
				_, err := backfill.Run(ctx, direct, s3c, backfill.Options{Table: table, Dest: backups, Segments: 1, Concurrency: 4})
				return err
			}},
	}
	r, err := e.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	outcome := func(r *enroll.Report, n string) enroll.TableResult {
		for _, tr := range r.Tables {
			if tr.Table == names[n] {
				return tr
			}
		}
		return enroll.TableResult{}
	}
	for n, want := range map[string]enroll.Outcome{"a": enroll.Enrolled, "b": enroll.Enrolled, "c": enroll.Enrolled, "d": enroll.NotTagged, "e": enroll.NotTagged} {
		if got := outcome(r, n); got.Outcome != want || (want == enroll.Enrolled && (!got.Backfilled || got.MappingCreated == "")) {
			t.Errorf("%s: %+v, want %s", n, got, want)
		}
	}
	if !outcome(r, "c").StreamEnabled || outcome(r, "a").StreamEnabled {
		t.Errorf("streams turned on: a %v, c %v", outcome(r, "a").StreamEnabled, outcome(r, "c").StreamEnabled)
	}
	ups := proxy.Requests("UpdateTable")
	last := ups[len(ups)-1]
	if b, _ := json.Marshal(last); string(b) != `{"StreamSpecification":{"StreamEnabled":true,"StreamViewType":"NEW_AND_OLD_IMAGES"},"TableName":"`+names["c"]+`"}` {
		t.Errorf("UpdateTable %s", b)
	}
	mappings := proxy.Mappings()
	if len(mappings) != 3 {
		t.Fatalf("%d mappings: %+v", len(mappings), mappings)
	}
	for _, m := range mappings {
		if !strings.HasSuffix(m.FunctionArn, ":function:dynasnap-fleet-stream") || m.StartingPosition != "TRIM_HORIZON" || m.BatchSize != 100 ||
			m.MaximumBatchingWindowInSeconds != 1 || !m.BisectBatchOnFunctionError || m.MaximumRetryAttempts != 5 || m.ParallelizationFactor != 1 ||
			fmt.Sprint(m.FunctionResponseTypes) != "[ReportBatchItemFailures]" || fmt.Sprint(m.DestinationConfig) != "map[OnFailure:map[Destination:"+dlq+"]]" {
			t.Errorf("mapping %+v lacks the template's settings", m)
		}
	}
	objects := func(n string) int {
		t.Helper()
		out, err := s3c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(backups.Child(names[n]).Dir())})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Versions)
	}
	for n, want := range map[string]int{"a": 3, "b": 3, "c": 3, "d": 0, "e": 0} {
		if got := objects(n); got != want {
			t.Errorf("%s: %d versions backed up, want %d", n, got, want)
		}
	}

	// The writer writes each enrolled table's changes, from its mapping.
	h, err := stream.New(s3c, stream.Config{Bucket: bucket, Prefix: "dynasnap", SkipApplied: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range mappings {
		rec := stream.Record{EventName: "MODIFY", EventSource: "aws:dynamodb", EventSourceARN: m.EventSourceArn, AWSRegion: "us-east-1",
			Change: stream.StreamRecord{ApproximateCreationDateTime: "1767225600", SequenceNumber: fmt.Sprint(100 + i), StreamViewType: "NEW_AND_OLD_IMAGES",
				Keys: json.RawMessage(`{"pk":{"S":"k0"}}`), NewImage: json.RawMessage(`{"pk":{"S":"k0"},"v":{"N":"2"}}`)}}
		resp, err := h.Handle(ctx, stream.Event{Records: []stream.Record{rec}})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("writer: %v %+v", err, resp)
		}
	}
	for _, n := range []string{"a", "b", "c"} {
		if got := objects(n); got != 4 {
			t.Errorf("%s: %d versions after the writer's change, want 4", n, got)
		}
	}
	head, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(objectKey(t, backups, names["c"], "k0"))})
	if err != nil || !strings.Contains(head.Metadata[backup.MetaStreamARN], arns["c"]+"/stream/") {
		t.Errorf("c's change: %v %v", err, head)
	}

	// A second sweep changes nothing: no mapping, no backfill again.
	creates := len(proxy.Requests("CreateEventSourceMapping"))
	if r, err := e.Sweep(ctx); err != nil || r.Failed != 0 || outcome(r, "a").Backfilled || len(proxy.Requests("CreateEventSourceMapping")) != creates {
		t.Fatalf("second sweep: %v %+v", err, r)
	}

	// Untagging b, and its event: b's mapping goes, its backup stays.
	bMapping := mappings[slices.IndexFunc(mappings, func(m fleetapi.Mapping) bool { return strings.Contains(m.EventSourceArn, names["b"]) })]
	if _, err := direct.UntagResource(ctx, &dynamodb.UntagResourceInput{ResourceArn: aws.String(arns["b"]), TagKeys: []string{tagKey}}); err != nil {
		t.Fatal(err)
	}
	ev := enroll.Event{Source: "aws.tag", DetailType: "Tag Change on Resource", Resources: []string{arns["b"]},
		Detail: json.RawMessage(`{"changed-tag-keys":["` + tagKey + `"],"service":"dynamodb","resource-type":"table","version":2,"tags":{}}`)}
	r, err = e.Handle(ctx, ev)
	if err != nil || len(r.Tables) != 1 || r.Tables[0].Outcome != enroll.NotTagged || !slices.Equal(r.Tables[0].MappingsRemoved, []string{bMapping.UUID}) {
		t.Fatalf("untag event: %v %+v", err, r)
	}
	if len(proxy.Mappings()) != 2 || objects("b") != 4 {
		t.Errorf("after untagging b: %d mappings, %d versions of b", len(proxy.Mappings()), objects("b"))
	}

	// Missed events: e tagged, a deleted, c untagged, b tagged again. The
	// sweep repairs all four: e enrolled, a's and c's mappings removed
	// (their backups kept), b enrolled again and backfilled again (it
	// missed changes while released).
	tag("e", "true")
	tag("b", "true")
	if _, err := direct.UntagResource(ctx, &dynamodb.UntagResourceInput{ResourceArn: aws.String(arns["c"]), TagKeys: []string{tagKey}}); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(names["a"])}); err != nil {
		t.Fatal(err)
	}
	// Gone from the listing, so the sweep meets its mapping alone (a table
	// still DELETING is released by its own reconcile).
	if err := dynamodb.NewTableNotExistsWaiter(direct, func(o *dynamodb.TableNotExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(names["a"])}, time.Minute); err != nil {
		t.Fatal(err)
	}
	r, err = e.Handle(ctx, enroll.Event{Source: "aws.events", DetailType: "Scheduled Event"})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcome(r, "e"); got.Outcome != enroll.Enrolled || !got.StreamEnabled || !got.Backfilled {
		t.Errorf("e after the sweep: %+v", got)
	}
	if got := outcome(r, "b"); got.Outcome != enroll.Enrolled || got.StreamEnabled || !got.Backfilled || got.MappingCreated == "" {
		t.Errorf("b after the sweep: %+v", got)
	}
	if got := outcome(r, "c"); got.Outcome != enroll.NotTagged || len(got.MappingsRemoved) != 1 {
		t.Errorf("c after the sweep: %+v", got)
	}
	if len(r.Orphans) != 1 || objects("a") != 4 || objects("c") != 4 || objects("e") != 3 {
		t.Errorf("sweep: orphans %v, %d versions of a (kept), %d of c (kept), %d of e", r.Orphans, objects("a"), objects("c"), objects("e"))
	}
	var srcs []string
	for _, m := range proxy.Mappings() {
		srcs = append(srcs, m.EventSourceArn)
	}
	if len(srcs) != 2 || !slices.ContainsFunc(srcs, func(s string) bool { return strings.Contains(s, names["b"]) }) ||
		!slices.ContainsFunc(srcs, func(s string) bool { return strings.Contains(s, names["e"]) }) {
		t.Errorf("mappings after the sweep: %v", srcs)
	}

	// The records: a and c released (their backups kept), b and e enrolled. A
	// tagged table whose stream may not be turned on is recorded as
	// unavailable, and status lists it although it has no backup.
	readRecord := func(n string) enroll.Record {
		t.Helper()
		out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(status.ResultKey(status.DefaultResults(backups), names[n], enroll.RecordName))})
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		defer out.Body.Close()
		var r enroll.Record
		json.NewDecoder(out.Body).Decode(&r)
		return r
	}
	for n, want := range map[string]string{"a": enroll.StateReleased, "b": enroll.StateEnrolled, "c": enroll.StateReleased, "e": enroll.StateEnrolled} {
		if r := readRecord(n); r.State != want || (want == enroll.StateReleased) != (r.ReleasedAt != nil) {
			t.Errorf("%s's record %+v, want %s", n, r, want)
		}
	}
	tag("d", "true")
	strict := *e
	strict.Config.EnableStreams = false
	if r, err := strict.Tables(ctx, []string{names["d"]}); err != nil || r.Tables[0].Outcome != enroll.Unavailable || !strings.Contains(r.Tables[0].Reason, "EnableStreams") {
		t.Fatalf("d with streams not allowed: %v %+v", err, r)
	}
	if r := readRecord("e"); r.BackfilledAt == nil || !strings.HasPrefix(r.StreamArn, arns["e"]+"/stream/") {
		t.Errorf("e's enrolment record %+v", r)
	}
	if r := readRecord("d"); r.State != enroll.StateUnavailable || r.Reason == "" {
		t.Errorf("d's record %+v", r)
	}
	st, err := status.Run(ctx, s3c, status.Options{Backups: backups})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]status.TableStatus{}
	for _, ts := range st.Tables {
		seen[ts.Table] = ts
	}
	if d := seen[names["d"]]; d.Enrolment == nil || d.Enrolment.State != enroll.StateUnavailable || len(d.Breaks) != 1 || !strings.Contains(d.Breaks[0], "not backed up") {
		t.Errorf("status of d: %+v", d)
	}
	if c := seen[names["c"]]; c.Enrolment == nil || c.Enrolment.State != enroll.StateReleased || len(c.Breaks) != 0 || c.Layout != "items" {
		t.Errorf("status of c: %+v", c)
	}
	if len(st.Tables) != 5 {
		t.Errorf("status lists %d tables, want a, b, c, d (no backup) and e: %v", len(st.Tables), slices.Collect(maps.Keys(seen)))
	}

	// Every request the enroller made kept to its API reference.
	if v := proxy.Violations(); len(v) > 0 {
		t.Errorf("requests off their API reference:\n%s", strings.Join(v, "\n"))
	}
	for _, action := range []string{"ListTables", "ListTagsOfResource", "UpdateTable", "CreateEventSourceMapping", "DeleteEventSourceMapping", "ListEventSourceMappings"} {
		if len(proxy.Requests(action)) == 0 {
			t.Errorf("no %s request seen", action)
		}
	}
}

func objectKey(t *testing.T, backups layout.Location, table, pk string) string {
	t.Helper()
	w := backup.New(nil, backups.Bucket, backups.Prefix, table)
	k, err := w.ObjectKey(map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
