package backfill

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// testItem is item i of the test table: a hash and a range key and values
// of every type, numbers and binaries that only an exact codec keeps.
func testItem(i int) item.Item {
	return item.Item{
		"pk":   &types.AttributeValueMemberS{Value: "user#" + strconv.Itoa(i%997)},
		"sk":   &types.AttributeValueMemberN{Value: strconv.Itoa(i)},
		"big":  &types.AttributeValueMemberN{Value: "9999999999999999999999999999999999999" + strconv.Itoa(i%10)},
		"tiny": &types.AttributeValueMemberN{Value: "-0.0000000000000000000000000000000000001"},
		"bin":  &types.AttributeValueMemberB{Value: []byte{0, byte(i), byte(i >> 8), 255}},
		"tags": &types.AttributeValueMemberSS{Value: []string{"a", "b" + strconv.Itoa(i%3)}},
		"doc": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{
				&types.AttributeValueMemberNULL{Value: true}, &types.AttributeValueMemberBOOL{Value: i%2 == 0}}},
			"ns": &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		}},
	}
}

// CreateTable makes a pk (S) + sk (N) table in dynalite holding n test items.
func createTable(t *testing.T, ddb *dynamodb.Client, n int) string {
	t.Helper()
	ctx := context.Background()
	name := testenv.Name("backfill")
	_, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN}},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}},
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() { ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)}) })
	testenv.WaitTable(t, ddb, name)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for start := 0; start < n; start += 25 {
		g.Go(func() error {
			var reqs []types.WriteRequest
			for i := start; i < min(start+25, n); i++ {
				reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: testItem(i)}})
			}
			in := map[string][]types.WriteRequest{name: reqs}
			for len(in) > 0 {
				out, err := ddb.BatchWriteItem(gctx, &dynamodb.BatchWriteItemInput{RequestItems: in})
				if err != nil {
					return err
				}
				in = out.UnprocessedItems
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("load table: %v", err)
	}
	return name
}

// The acceptance test: 10,000 items in, 10,000 objects out, each
// body equal to its item.
func TestBackfill10000Items(t *testing.T) {
	c := testenv.Clients(t)
	const n = 10000
	ctx := context.Background()
	table := createTable(t, c.DynamoDB(), n)
	bucket := testenv.Bucket(t, c, true)
	dest := layout.Location{Bucket: bucket, Prefix: "backups"}

	// SeaweedFS takes ~130 ms a versioned PUT here: throughput is a matter
	// of PUTs in flight. The bucket is empty, so plain puts (--overwrite)
	// give the same result as conditional ones, at less than half the cost
	// on this server; TestBackfillConditional covers those.
	start := time.Now()
	st, err := Run(ctx, c.DynamoDB(), c.S3(), Options{Table: table, Dest: dest, Segments: 8, Concurrency: 256, Overwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	t.Logf("backfill of %d items: %v, %.0f items/s, %.0f RCU", n, d.Round(time.Millisecond), float64(n)/d.Seconds(), st.Capacity)
	if st.Scanned != n || st.Written != n {
		t.Fatalf("stats %+v", st)
	}

	// Every object, read back, is its item's exact encoding.
	loc := layout.TableLocation(bucket, dest.Prefix, table)
	want := map[string]string{}
	for i := range n {
		it := testItem(i)
		id, err := item.KeyID(it, "pk", "sk")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := item.Marshal(it)
		want[loc.ObjectKey(id)] = string(b)
	}
	var keys []string
	p := s3.NewListObjectsV2Paginator(c.S3(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(loc.Dir())})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	if len(keys) != n {
		t.Fatalf("%d objects, want %d", len(keys), n)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for _, k := range keys {
		g.Go(func() error {
			out, err := c.S3().GetObject(gctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			b, err := io.ReadAll(out.Body)
			if err != nil {
				return err
			}
			if w, ok := want[k]; !ok || string(b) != w {
				return fmt.Errorf("object %s: body %s, want %s", k, b, w)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

}

func TestBackfillRefusesRealUnversionedBucket(t *testing.T) {
	c := testenv.Clients(t)
	table := createTable(t, c.DynamoDB(), 10)
	bucket := testenv.Bucket(t, c, false)
	if _, err := Run(context.Background(), c.DynamoDB(), c.S3(), Options{Table: table, Dest: layout.Location{Bucket: bucket}}); err == nil {
		t.Fatal("no error for an unversioned bucket")
	}
}

// Conditional puts against the real server: a second run finds every object
// the first one wrote and writes nothing, so it can never bury a newer
// version the stream wrote in between.
func TestBackfillConditional(t *testing.T) {
	c := testenv.Clients(t)
	const n = 300
	ctx := context.Background()
	table := createTable(t, c.DynamoDB(), n)
	dest := layout.Location{Bucket: testenv.Bucket(t, c, true), Prefix: "p"}
	for run, want := range []int64{n, 0} {
		st, err := Run(ctx, c.DynamoDB(), c.S3(), Options{Table: table, Dest: dest, Segments: 3, Concurrency: 128})
		if err != nil {
			t.Fatal(err)
		}
		if st.Written != want || st.Written+st.Existing != n {
			t.Fatalf("run %d: wrote %d, found %d existing; want %d written", run+1, st.Written, st.Existing, want)
		}
	}
}
