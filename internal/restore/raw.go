package restore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/dynasnap/dynasnap/internal/item"
)

// A snapshot line's item is already DynamoDB JSON, the very encoding
// BatchWriteItem takes on the wire. Sending it as is skips decoding it into
// AttributeValues and the SDK encoding them again, which is most of the CPU
// a restore spends; on a machine shared with the database that CPU is
// throughput. Only the first send of a batch is raw: what comes back
// unprocessed is typed and goes the ordinary way.

// PutRaw adds a put of an item given as DynamoDB JSON. The JSON must be an
// object; DynamoDB checks the rest and rejects the batch if it is wrong.
func (b *Batcher) PutRaw(ctx context.Context, raw json.RawMessage) error {
	if !b.w.raw {
		it, err := item.Unmarshal(raw)
		if err != nil {
			return err
		}
		return b.Put(ctx, it)
	}
	raw = bytes.TrimSpace(raw)
	if item.MayHaveReplication(raw) {
		// aws:rep:* attributes are never written back (Put).
		clean, _, err := item.WithoutReplicationJSON(raw)
		if err != nil {
			return err
		}
		raw = clean
	}
	if len(raw) < 2 || raw[0] != '{' || !json.Valid(raw) {
		return fmt.Errorf("item is not a JSON object: %.60s", raw)
	}
	if b.cur == nil {
		b.cur = &batch{}
	}
	if b.cur.reqs != nil {
		// A batch is all raw or all typed; a producer uses one kind.
		if err := b.send(ctx); err != nil {
			return err
		}
		b.cur = &batch{}
	}
	b.cur.raw = append(b.cur.raw, raw)
	// The JSON is larger than the item DynamoDB bills (type wrappers,
	// base64), so the rate cap errs on the safe side.
	b.cur.wcu = append(b.cur.wcu, int64(len(raw)+1023)/1024)
	if len(b.cur.raw) == BatchSize {
		return b.send(ctx)
	}
	return nil
}

// rawBody is the BatchWriteItem request for puts of raw items.
func rawBody(table string, items []json.RawMessage) []byte {
	n := 64
	for _, it := range items {
		n += len(it) + 30
	}
	b := make([]byte, 0, n)
	b = append(b, `{"RequestItems":{`...)
	b = item.AppendString(b, table)
	b = append(b, ":["...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"PutRequest":{"Item":`...)
		b = append(b, it...)
		b = append(b, "}}"...)
	}
	return append(b, "]}}"...)
}

// placeholder passes the SDK's input validation; its serialized form is
// replaced by the raw body before signing.
func placeholder(table string) *dynamodb.BatchWriteItemInput {
	return &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: {{
		PutRequest: &types.PutRequest{Item: item.Item{"_": &types.AttributeValueMemberNULL{Value: true}}}}}}}
}

// withBody replaces the serialized request body (the last serialize step,
// so before content length and signing are computed).
func withBody(body []byte) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Serialize.Add(middleware.SerializeMiddlewareFunc("dynasnapRawBatchBody",
				func(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
					req, ok := in.Request.(*smithyhttp.Request)
					if !ok {
						return middleware.SerializeOutput{}, middleware.Metadata{}, fmt.Errorf("raw batch body: unexpected request type %T", in.Request)
					}
					r2, err := req.SetStream(bytes.NewReader(body))
					if err != nil {
						return middleware.SerializeOutput{}, middleware.Metadata{}, fmt.Errorf("raw batch body: %w", err)
					}
					in.Request = r2
					return next.HandleSerialize(ctx, in)
				}), middleware.After)
		})
	}
}
