package stream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/stream"
	"github.com/dynasnap/dynasnap/internal/testsupport/reliability"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// liveTable writes to a dynalite table and makes the stream record each
// write would have on a real table's stream (dynalite has no streams): its
// ARN and sequence numbers are those of the stream the table has now.
type liveTable struct {
	t    *testing.T
	ddb  *dynamodb.Client
	name string
	arn  string // the current stream's ARN
	seq  int64  // the current stream's next sequence number, less its base
	base string // the current stream's sequence numbers start with it
	recs []stream.Record
}

func (lt *liveTable) record(event string, key, image item.Item) {
	kb, _ := item.Marshal(key)
	r := stream.Record{EventID: fmt.Sprint(len(lt.recs)), EventName: event, EventSource: "aws:dynamodb", EventSourceARN: lt.arn,
		AWSRegion: "us-east-1", Change: stream.StreamRecord{ApproximateCreationDateTime: json.Number(fmt.Sprint(time.Now().Unix())),
			Keys: kb, SequenceNumber: fmt.Sprintf("%s%021d", lt.base, lt.seq), StreamViewType: "NEW_AND_OLD_IMAGES"}}
	lt.seq++
	if image != nil {
		r.Change.NewImage, _ = item.Marshal(image)
	}
	lt.recs = append(lt.recs, r)
}

func (lt *liveTable) put(id int, total string) {
	lt.t.Helper()
	img := item.Item{"pk": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("order#%d", id)},
		"total": &ddbtypes.AttributeValueMemberN{Value: total}}
	out, err := lt.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(lt.name), Item: img,
		ReturnValues: ddbtypes.ReturnValueAllOld})
	if err != nil {
		lt.t.Fatal(err)
	}
	lt.record(map[bool]string{true: "MODIFY", false: "INSERT"}[len(out.Attributes) > 0], item.Item{"pk": img["pk"]}, img)
}

func (lt *liveTable) del(id int) {
	lt.t.Helper()
	key := item.Item{"pk": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("order#%d", id)}}
	if _, err := lt.ddb.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(lt.name), Key: key}); err != nil {
		lt.t.Fatal(err)
	}
	lt.record("REMOVE", key, nil)
}

// create (re)creates the table with a new stream labelled at label, whose
// sequence numbers start with base.
func (lt *liveTable) create(label, base string) {
	lt.t.Helper()
	_, err := lt.ddb.CreateTable(context.Background(), &dynamodb.CreateTableInput{TableName: aws.String(lt.name),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest})
	if err != nil {
		lt.t.Fatal(err)
	}
	testenv.WaitTable(lt.t, lt.ddb, lt.name)
	lt.arn = "arn:aws:dynamodb:us-east-1:123456789012:table/" + lt.name + "/stream/" + label
	lt.base, lt.seq = base, 1
}

func (lt *liveTable) drop() {
	lt.t.Helper()
	ctx := context.Background()
	if _, err := lt.ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(lt.name)}); err != nil {
		lt.t.Fatal(err)
	}
	w := dynamodb.NewTableNotExistsWaiter(lt.ddb, func(o *dynamodb.TableNotExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 500*time.Millisecond
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(lt.name)}, time.Minute); err != nil {
		lt.t.Fatal(err)
	}
}

// scan is the table's contents, canonical DynamoDB JSON by key.
func (lt *liveTable) scan() map[string]string {
	lt.t.Helper()
	out := map[string]string{}
	p := dynamodb.NewScanPaginator(lt.ddb, &dynamodb.ScanInput{TableName: aws.String(lt.name), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			lt.t.Fatal(err)
		}
		for _, it := range page.Items {
			b, _ := item.Marshal(it)
			out[it["pk"].(*ddbtypes.AttributeValueMemberS).Value] = string(b)
		}
	}
	return out
}

// TestReliabilityStreamTableRecreated: a table deleted and created again
// under the same name mid-test (the end of a DR restore) gets a new stream
// whose sequence numbers are far below the old one's. Every change of the
// new stream is backed up, Lambda's redeliveries on it add nothing, and a
// snapshot taken after it equals the new table's Scan.
func TestReliabilityStreamTableRecreated(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	lt := &liveTable{t: t, ddb: c.DynamoDB(), name: testenv.Name("recreate")}
	t.Cleanup(func() {
		lt.ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(lt.name)})
	})
	h := handler(t, "", bucket)
	start := time.Now()
	invocations := 0
	// send delivers the records made since the last call, in batches of 10;
	// each batch is delivered twice (a retry after a lost response), and a
	// third time from its middle (a redelivery from a batchItemFailures
	// point).
	sent := 0
	send := func() {
		t.Helper()
		for i := sent; i < len(lt.recs); i += 10 {
			batch := lt.recs[i:min(i+10, len(lt.recs))]
			for _, b := range [][]stream.Record{batch, batch, batch[len(batch)/2:]} {
				n, err := deliver(ctx, h, b, 1)
				invocations += n
				if err != nil {
					t.Fatalf("batch at %d: %v", i, err)
				}
			}
		}
		sent = len(lt.recs)
	}

	// The old table and its stream: high sequence numbers.
	lt.create("2026-01-01T00:00:00.000", "900")
	for i := range 40 {
		lt.put(i, fmt.Sprintf("%d.1", i))
	}
	for i := range 40 {
		switch i % 4 {
		case 1:
			lt.put(i, fmt.Sprintf("%d.2", i))
		case 2:
			lt.del(i)
		}
	}
	send()
	oldRecords := len(lt.recs)

	// Deleted and created again: a new stream, sequence numbers from 100.
	// The restore writes the old contents back (INSERTs on the new stream),
	// then the application changes, deletes and adds items.
	old := lt.scan()
	lt.drop()
	lt.create("2026-06-01T00:00:00.000", "100")
	for i := range 40 {
		if _, ok := old[fmt.Sprintf("order#%d", i)]; ok {
			lt.put(i, fmt.Sprintf("%d.%d", i, map[bool]int{true: 2, false: 1}[i%4 == 1]))
		}
	}
	for i := range 50 {
		switch {
		case i%5 == 0 && i < 40 && i%4 != 2:
			lt.del(i)
		case i%3 == 0 || i >= 40:
			lt.put(i, fmt.Sprintf("%d.3", i))
		}
	}
	send()
	want := lt.scan()

	// The snapshot's time must lie after the newest version's second.
	time.Sleep(1100 * time.Millisecond)
	st := store.NewLocal(t.TempDir())
	src := layout.TableLocation(bucket, "backups", lt.name)
	if _, err := snapshot.Run(ctx, s3source.New(c.S3(), bucket), st, snapshot.Options{Source: src, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	err = snap.EachItem(ctx, func(l snapshot.Line) error {
		it, err := item.Unmarshal(l.Item)
		if err != nil {
			return err
		}
		b, _ := item.Marshal(it)
		got[it["pk"].(*ddbtypes.AttributeValueMemberS).Value] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var diff []string
	for k, v := range want {
		if got[k] != v {
			diff = append(diff, fmt.Sprintf("%s: snapshot %q, table %q", k, got[k], v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diff = append(diff, k+": in the snapshot, not in the table")
		}
	}
	sort.Strings(diff)

	// Each change made one version, whatever the redeliveries.
	_, extra := bucketState(t, c, bucket, lt.recs, lt.name)
	reliability.Record(t, reliability.Result{Area: "stream writer",
		Tried: fmt.Sprintf("table deleted and created again under the same name mid-stream: %d changes from the old stream, then %d from the new one "+
			"(new stream ARN, sequence numbers below the old one's), every batch delivered twice and again from its middle", oldRecords, len(lt.recs)-oldRecords),
		Outcome: fmt.Sprintf("no change skipped: a snapshot afterwards equals the new table's Scan (%d items); %d duplicate versions from %d invocations",
			len(want), extra, invocations),
		Checked: int64(len(want)), Lost: int64(len(diff)), Exit: -1, Seconds: time.Since(start).Seconds()})
	if len(diff) > 0 {
		t.Fatalf("%d items differ from the new table, e.g. %v", len(diff), diff[:min(len(diff), 5)])
	}
	if extra != 0 {
		t.Errorf("%d versions beyond one per change: redeliveries were not idempotent", extra)
	}
	if len(want) < 30 {
		t.Fatalf("the new table holds only %d items: the test does too little", len(want))
	}
}
