package testenv

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The local stack really versions objects: two puts and a delete give three
// entries, and each version reads back by id.
func TestS3Versioning(t *testing.T) {
	c := Clients(t)
	bucket := Bucket(t, c, true)
	cl := c.S3()
	ctx := context.Background()
	var ids []string
	for _, body := range []string{"one", "two"} {
		out, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: bytes.NewReader([]byte(body))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.VersionId))
	}
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	lv, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(lv.Versions) != 2 || len(lv.DeleteMarkers) != 1 {
		t.Fatalf("got %d versions and %d delete markers", len(lv.Versions), len(lv.DeleteMarkers))
	}
	for i, want := range []string{"one", "two"} {
		g, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), VersionId: aws.String(ids[i])})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(g.Body)
		g.Body.Close()
		if string(b) != want {
			t.Fatalf("version %s = %q, want %q", ids[i], b, want)
		}
	}
}

func TestDynamoDBBasics(t *testing.T) {
	db := DynamoDB(t)
	ctx := context.Background()
	table := Name("t")
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	WaitTable(t, db, table)
	var reqs []ddbtypes.WriteRequest
	for _, k := range []string{"a", "b", "c"} {
		reqs = append(reqs, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: k}, "n": &ddbtypes.AttributeValueMemberN{Value: "12345678901234567890123456789012345678"}}}})
	}
	if _, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{table: reqs}}); err != nil {
		t.Fatal(err)
	}
	out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 3 {
		t.Fatalf("scan found %d items", len(out.Items))
	}
}
