package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestStateCondition: the undo's condition holds on the item it was made
// from, whatever its types (maps and lists compared through their paths,
// sets, NULL, booleans, binaries), and fails on any change of a value,
// nested or not, and on an item that should be absent; an absent state's
// condition holds only while the item is absent.
func TestStateCondition(t *testing.T) {
	ddb := testenv.DynamoDB(t)
	ctx := context.Background()
	table := newTable(t, ddb, pkOnly)
	state, err := item.Unmarshal([]byte(`{"pk":{"S":"a"},"n":{"N":"1.5"},"ss":{"SS":["x","y"]},"null":{"NULL":true},"f":{"BOOL":false},"b":{"B":"AQI="},` +
		`"m":{"M":{"k":{"S":"v"},"deep":{"M":{"l":{"L":[{"N":"1"},{"M":{}},{"L":[]}]}}}}},"empty":{"M":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	put := func(it item.Item, c *Condition) error {
		_, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it,
			ConditionExpression: aws.String(c.Expression), ExpressionAttributeNames: c.Names, ExpressionAttributeValues: c.Values})
		return err
	}
	failed := func(err error) bool {
		var ccf *types.ConditionalCheckFailedException
		return errors.As(err, &ccf)
	}
	absent, err := StateCondition(nil, "pk")
	if err != nil {
		t.Fatal(err)
	}
	if err := put(state, absent); err != nil {
		t.Fatalf("absent: %v", err)
	}
	if err := put(state, absent); !failed(err) {
		t.Fatalf("absent, on an item that exists: %v", err)
	}
	c, err := StateCondition(state, "pk")
	if err != nil {
		t.Fatal(err)
	}
	if err := put(state, c); err != nil {
		t.Fatalf("on its own state: %v\n%s", err, c.Expression)
	}
	for _, change := range []string{
		`"n":{"N":"2"}`, `"ss":{"SS":["x"]}`, `"null":{"BOOL":true}`, `"f":{"BOOL":true}`, `"b":{"B":"AQM="}`,
		`"m":{"M":{"k":{"S":"w"},"deep":{"M":{"l":{"L":[{"N":"1"},{"M":{}},{"L":[]}]}}}}}`,
		`"m":{"M":{"k":{"S":"v"},"deep":{"M":{"l":{"L":[{"N":"1"},{"M":{"x":{"S":"y"}}},{"L":[]}]}}}}}`,
		`"m":{"M":{"k":{"S":"v"},"extra":{"S":"e"},"deep":{"M":{"l":{"L":[{"N":"1"},{"M":{}},{"L":[]}]}}}}}`,
		`"empty":{"L":[]}`,
	} {
		name := change[1 : strings.Index(change[1:], `"`)+1]
		changed, err := item.Unmarshal([]byte(`{"pk":{"S":"a"},` + change + `}`))
		if err != nil {
			t.Fatal(err)
		}
		live := item.Item{}
		for k, v := range state {
			live[k] = v
		}
		live[name] = changed[name]
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: live}); err != nil {
			t.Fatal(err)
		}
		if err := put(state, c); !failed(err) {
			t.Fatalf("%s changed: the condition held (%v)", change, err)
		}
	}
	if _, err := ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: item.Item{"pk": state["pk"]}}); err != nil {
		t.Fatal(err)
	}
	if err := put(state, c); !failed(err) {
		t.Fatalf("on an absent item: %v", err)
	}
	big := item.Item{"pk": state["pk"]}
	for i := range 400 {
		big[fmt.Sprintf("attribute%03d", i)] = &types.AttributeValueMemberN{Value: "1"}
	}
	if _, err := StateCondition(big, "pk"); !errors.Is(err, ErrConditionTooBig) {
		t.Fatalf("400 attributes: %v", err)
	}
}
