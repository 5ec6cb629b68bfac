package fastscan

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// Against the local DynamoDB: every testdata item (every attribute type,
// odd names and values) and a few hundred plain ones, scanned in small
// pages with and without Option, give the same pages: items, keys,
// counts and consumed capacity.
func TestScanLikeTheSDK(t *testing.T) {
	db := testenv.DynamoDB(t)
	ctx := context.Background()
	table := testenv.Name("fastscan")
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}})
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitTable(t, db, table)
	var items []item.Item
	for name, it := range testenv.Items(t) {
		c := item.Item{}
		for k, v := range it {
			c[k] = v
		}
		c["pk"] = &types.AttributeValueMemberS{Value: "testdata/" + name}
		items = append(items, c)
	}
	for i := range 300 {
		items = append(items, item.Item{"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("plain-%03d \u00e9\u20ac\"\\\n", i)},
			"n": &types.AttributeValueMemberN{Value: fmt.Sprint(i*7 - 100)}, "f": &types.AttributeValueMemberN{Value: "1.50"},
			"s": &types.AttributeValueMemberS{Value: strings.Repeat("x", i)}, "b": &types.AttributeValueMemberB{Value: []byte{byte(i), 0, 255}},
			"ss": &types.AttributeValueMemberSS{Value: []string{"b", "a"}}, "ok": &types.AttributeValueMemberBOOL{Value: i%2 == 0}})
	}
	for _, it := range items {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatalf("put %v: %v", it["pk"], err)
		}
	}
	for _, seg := range []int32{0, 1} {
		in := &dynamodb.ScanInput{TableName: aws.String(table), Limit: aws.Int32(37), Segment: aws.Int32(seg), TotalSegments: aws.Int32(2),
			ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal}
		pages := 0
		for {
			want, err := db.Scan(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := db.Scan(ctx, in, Option)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Items, want.Items) || !reflect.DeepEqual(got.LastEvaluatedKey, want.LastEvaluatedKey) ||
				got.Count != want.Count || got.ScannedCount != want.ScannedCount || !reflect.DeepEqual(got.ConsumedCapacity, want.ConsumedCapacity) {
				t.Fatalf("segment %d page %d differs:\n got %d items, key %v, count %d/%d, %+v\nwant %d items, key %v, count %d/%d, %+v",
					seg, pages, len(got.Items), got.LastEvaluatedKey, got.Count, got.ScannedCount, got.ConsumedCapacity,
					len(want.Items), want.LastEvaluatedKey, want.Count, want.ScannedCount, want.ConsumedCapacity)
			}
			pages++
			if len(want.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = want.LastEvaluatedKey
		}
		if pages < 3 {
			t.Fatalf("segment %d: %d pages", seg, pages)
		}
	}
	// An error answer is the SDK's typed error.
	_, err = db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table + "-missing")}, Option)
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("a missing table: %v, want ResourceNotFoundException", err)
	}
}

// Answers it does not take whole are left to the SDK (ok=false), never
// half read.
func TestDecodeRefuses(t *testing.T) {
	for _, body := range []string{
		``, `[]`, `{"Items":[{"a":{"S":"x"}}]`, `{"Items":[{"a":{"Q":"x"}}]}`,
		`{"Items":[],"Unknown":1}`, `{"Count":-1}`, `{"Count":1.5}`, `{"Items":[{"a":{"S":"\ud800"}}]}`, `{"Items":[]} x`,
		`{"ConsumedCapacity":{"CapacityUnits":"x"}}`, `{"ConsumedCapacity":null}`,
	} {
		if _, ok := Decode([]byte(body)); ok {
			t.Errorf("Decode(%q) took it", body)
		}
	}
	out, ok := Decode([]byte(` {"Count":2,"Items":[{"a":{"S":"x"}},{"a":{"NS":["1","2.5"]}}],"ScannedCount":3,"LastEvaluatedKey":{"a":{"S":"x"}},"ConsumedCapacity":{"TableName":"t","CapacityUnits":0.5}} `))
	if !ok || len(out.Items) != 2 || out.Count != 2 || out.ScannedCount != 3 || aws.ToFloat64(out.ConsumedCapacity.CapacityUnits) != 0.5 ||
		aws.ToString(out.ConsumedCapacity.TableName) != "t" || out.LastEvaluatedKey["a"].(*types.AttributeValueMemberS).Value != "x" {
		t.Fatalf("Decode: %+v %v", out, ok)
	}
}
