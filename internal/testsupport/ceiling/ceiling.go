// Package ceiling times the bare BatchWriteItem loop a restore cannot beat;
// the restore benchmark (TestRestore100k, run by make bench) compares
// restore's items/s with it.
package ceiling

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
)

// batchSize is DynamoDB's limit of writes in one BatchWriteItem (as
// restore.batchSize).
const batchSize = 25

// BatchAPI is the one DynamoDB call the loop makes (restore.BatchAPI; its
// own here, as restore's tests import this package).
type BatchAPI interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// BatchWrite times the bare loop a restore cannot beat: BatchWriteItem of
// ready-made batches of 25 from workers goroutines, no reading, no decoding,
// unprocessed items sent again at once. make bench compares restore's
// items/s with it at the same concurrency.
func BatchWrite(ctx context.Context, client BatchAPI, table string, items []item.Item, workers int) (itemsPerSecond float64, err error) {
	var batches [][]types.WriteRequest
	for i := 0; i < len(items); i += batchSize {
		var b []types.WriteRequest
		for _, it := range items[i:min(i+batchSize, len(items))] {
			b = append(b, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
		}
		batches = append(batches, b)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(batches) || ctx.Err() != nil {
					return
				}
				reqs := batches[i]
				for len(reqs) > 0 {
					out, err := client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
					if err != nil {
						cancel(fmt.Errorf("ceiling: %w", err))
						return
					}
					reqs = out.UnprocessedItems[table]
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	return float64(len(items)) / time.Since(start).Seconds(), nil
}
