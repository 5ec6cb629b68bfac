package backfill

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// fakeTable is a DynamoDB table with a numeric hash key "id" whose Scan
// splits items over segments by id and pages by Limit, and which throttles
// every throttleEvery-th Scan call.
type fakeTable struct {
	items         []map[string]types.AttributeValue // sorted by id
	throttleEvery int

	mu       sync.Mutex
	calls    int
	throttle int
	failAt   int // fail (not throttle) the n-th Scan call; 0: never
}

func newFakeTable(n int) *fakeTable {
	t := &fakeTable{}
	for i := range n {
		t.items = append(t.items, map[string]types.AttributeValue{
			"id":  &types.AttributeValueMemberN{Value: strconv.Itoa(i)},
			"big": &types.AttributeValueMemberN{Value: "1234567890123456789012345678901234567" + strconv.Itoa(i%10)},
			"b":   &types.AttributeValueMemberB{Value: []byte{0, byte(i), 255}},
		})
	}
	return t
}

func (t *fakeTable) DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return &dynamodb.DescribeTableOutput{Table: &types.TableDescription{
		TableName: in.TableName, ItemCount: aws.Int64(int64(len(t.items))),
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	}}, nil
}

func (t *fakeTable) Scan(ctx context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	t.mu.Lock()
	t.calls++
	calls := t.calls
	t.mu.Unlock()
	if t.failAt > 0 && calls == t.failAt {
		return nil, fmt.Errorf("injected scan failure")
	}
	if t.throttleEvery > 0 && calls%t.throttleEvery == 0 {
		t.mu.Lock()
		t.throttle++
		t.mu.Unlock()
		return nil, &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "slow down"}
	}
	seg, total := int(aws.ToInt32(in.Segment)), int(aws.ToInt32(in.TotalSegments))
	after := -1
	if in.ExclusiveStartKey != nil {
		after, _ = strconv.Atoi(in.ExclusiveStartKey["id"].(*types.AttributeValueMemberN).Value)
	}
	limit := int(aws.ToInt32(in.Limit))
	if limit == 0 {
		limit = 100
	}
	out := &dynamodb.ScanOutput{ConsumedCapacity: &types.ConsumedCapacity{CapacityUnits: aws.Float64(float64(limit) / 10)}}
	i := sort.Search(len(t.items), func(i int) bool { return i > after })
	for ; i < len(t.items) && len(out.Items) < limit; i++ {
		if i%total == seg {
			out.Items = append(out.Items, t.items[i])
		}
	}
	if i < len(t.items) {
		out.LastEvaluatedKey = map[string]types.AttributeValue{"id": &types.AttributeValueMemberN{Value: strconv.Itoa(i - 1)}}
	}
	return out, nil
}
