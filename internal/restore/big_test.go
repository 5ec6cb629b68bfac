package restore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/testsupport/ceiling"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

func payloadItem(i int) item.Item {
	return item.Item{
		"pk":    &types.AttributeValueMemberS{Value: fmt.Sprintf("user#%07d", i)},
		"name":  &types.AttributeValueMemberS{Value: strings.Repeat("x", 40) + strconv.Itoa(i)},
		"n":     &types.AttributeValueMemberN{Value: strconv.Itoa(i * 7)},
		"tags":  &types.AttributeValueMemberSS{Value: []string{"a", "b", strconv.Itoa(i % 13)}},
		"attrs": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"x": &types.AttributeValueMemberBOOL{Value: i%2 == 0}, "y": &types.AttributeValueMemberN{Value: "1.5"}}},
	}
}

// TestRestore100k: a snapshot of 100,000 items restores into dynalite and
// verifies with zero differences; then deleting, changing and adding items
// makes verify fail and name them. It also measures restore against the
// bare BatchWriteItem ceiling at the same concurrency (DYNASNAP_BIG_ITEMS
// changes the size).
func TestRestore100k(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("DYNASNAP_BIG_ITEMS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	ddb := testenv.DynamoDB(t)
	const nfiles, workers = 16, 32
	files := make([][]item.Item, nfiles)
	all := make([]item.Item, n)
	for i := range n {
		all[i] = payloadItem(i)
		files[i%nfiles] = append(files[i%nfiles], all[i])
	}
	s := writeSnapshot(t, t.TempDir(), pkSchema, files)

	// The ceiling runs first, into its own table: dynalite slows a little
	// as it holds more, so this order favours the ceiling, not restore.
	ceilTable := newTable(t, ddb, pkSchema)
	ceilRate, err := ceiling.BatchWrite(ctx, ddb, ceilTable, all, workers)
	if err != nil {
		t.Fatal(err)
	}
	table := newTable(t, ddb, pkSchema)
	w := &Writer{Client: ddb, Table: table, Workers: workers}
	res, err := FromSnapshot(ctx, s, w, SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	restoreRate := float64(res.Puts) / res.Elapsed.Seconds()
	t.Logf("restore %d items: %.0f items/s; bare BatchWriteItem ceiling at %d workers: %.0f items/s; ratio %.2f",
		res.Puts, restoreRate, workers, ceilRate, restoreRate/ceilRate)

	r := mustVerify(t, ctx, s, ddb, table, pkSchema)
	if !r.Equal() || r.TableItems != int64(n) || r.SnapshotItems != int64(n) {
		t.Fatalf("verify after restore: %+v", r)
	}
	t.Logf("verify of %d items: %.1fs", n, r.Seconds)

	// Break the table: 5 deleted, 3 changed, 2 added.
	for i := range 5 {
		k, _ := pkSchema.Key(payloadItem(i))
		if _, err := ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 10; i < 13; i++ {
		it := payloadItem(i)
		it["n"] = &types.AttributeValueMemberN{Value: "-1"}
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	for i := n; i < n+2; i++ {
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: payloadItem(i)}); err != nil {
			t.Fatal(err)
		}
	}
	r = mustVerify(t, ctx, s, ddb, table, pkSchema)
	if r.Equal() || r.Missing != 5 || r.Different != 3 || r.Extra != 2 {
		t.Fatalf("verify after changes: %+v", r)
	}
	want := map[string]bool{}
	for _, i := range []int{0, 1, 2, 3, 4, 10, 11, 12, n, n + 1} {
		want[fmt.Sprintf(`{"pk":{"S":"user#%07d"}}`, i)] = true
	}
	for _, k := range append(append(r.MissingKeys, r.DifferentKeys...), r.ExtraKeys...) {
		if !want[k] {
			t.Errorf("verify named %s, which was not changed", k)
		}
		delete(want, k)
	}
	if len(want) > 0 {
		t.Errorf("verify did not name %v", want)
	}
}
