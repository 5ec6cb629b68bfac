// Package fastscan decodes a Scan's answer in one pass, for the parallel
// scans of audit, backfill and verify, with the SDK's own decoding as the
// fallback, as fastget reads object bodies for the snapshot.
//
// The SDK decodes an answer through a generic JSON reader into its union
// types at about 3 µs per 400-byte item, as much CPU as a local DynamoDB
// spends to serve it: a Scan's client is then the bound of an audit. This
// decoder takes a 2xx answer's body and reads its items with the item
// package's fast decoder; anything it does not take (an error answer, an
// unknown member, a number DynamoDB would not send, escapes it leaves to
// the careful decoder) is handed to the SDK's deserializer unchanged,
// body included.
package fastscan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/dynasnap/dynasnap/internal/item"
)

// Option has one Scan call decode its answer here: pass it to
// dynamodb.Client.Scan (an option of the call, not of the client, so no
// other operation is touched).
func Option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, swap)
}

// operationDeserializer is the ID of the SDK's deserializer of an
// operation's answer in the Deserialize step.
const operationDeserializer = "OperationDeserializer"

func swap(st *middleware.Stack) error {
	orig, ok := st.Deserialize.Get(operationDeserializer)
	if !ok {
		return nil // not the stack this was written for: the SDK decodes
	}
	_, err := st.Deserialize.Swap(operationDeserializer, &deserializer{orig: orig})
	return err
}

type deserializer struct {
	orig middleware.DeserializeMiddleware
}

func (*deserializer) ID() string { return operationDeserializer }

func (m *deserializer) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return m.orig.HandleDeserialize(ctx, in, replay{out, md})
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr != nil {
		return out, md, &smithy.DeserializationError{Err: fmt.Errorf("read Scan answer: %w", rerr)}
	}
	if so, ok := Decode(body); ok {
		out.Result = so
		return out, md, nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return m.orig.HandleDeserialize(ctx, in, replay{out, md})
}

// replay answers the SDK's deserializer with the response already read.
type replay struct {
	out middleware.DeserializeOutput
	md  middleware.Metadata
}

func (r replay) HandleDeserialize(context.Context, middleware.DeserializeInput) (middleware.DeserializeOutput, middleware.Metadata, error) {
	return r.out, r.md, nil
}

// Decode reads a Scan answer's body (the members Items, Count,
// ScannedCount, LastEvaluatedKey and ConsumedCapacity); ok is false for
// one it does not take whole.
func Decode(body []byte) (*dynamodb.ScanOutput, bool) {
	p := parser{b: body}
	out := &dynamodb.ScanOutput{}
	if !p.byte('{') {
		return nil, false
	}
	if p.byte('}') {
		return out, p.end()
	}
	for {
		name, ok := p.name()
		if !ok || !p.byte(':') {
			return nil, false
		}
		switch name {
		case "Items":
			if !p.byte('[') {
				return nil, false
			}
			out.Items = []map[string]types.AttributeValue{}
			if !p.byte(']') {
				for {
					it, end, ok := item.DecodeMapAt(p.b, p.i)
					if !ok {
						return nil, false
					}
					p.i = end
					out.Items = append(out.Items, it)
					if p.byte(',') {
						continue
					}
					if !p.byte(']') {
						return nil, false
					}
					break
				}
			}
		case "LastEvaluatedKey":
			it, end, ok := item.DecodeMapAt(p.b, p.i)
			if !ok {
				return nil, false
			}
			p.i = end
			out.LastEvaluatedKey = it
		case "Count", "ScannedCount":
			n, ok := p.int32()
			if !ok {
				return nil, false
			}
			if name == "Count" {
				out.Count = n
			} else {
				out.ScannedCount = n
			}
		case "ConsumedCapacity":
			// Small, and read by encoding/json, which says where it ends.
			p.space()
			if p.i >= len(p.b) || p.b[p.i] != '{' {
				return nil, false
			}
			dec := json.NewDecoder(bytes.NewReader(p.b[p.i:]))
			var cc types.ConsumedCapacity
			if dec.Decode(&cc) != nil {
				return nil, false
			}
			p.i += int(dec.InputOffset())
			out.ConsumedCapacity = &cc
		default:
			return nil, false // a member this decoder does not know
		}
		if p.byte(',') {
			continue
		}
		if !p.byte('}') {
			return nil, false
		}
		return out, p.end()
	}
}

// parser reads the answer's top level.
type parser struct {
	b []byte
	i int
}

func (p *parser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *parser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) end() bool {
	p.space()
	return p.i == len(p.b)
}

// name reads a member name: plain ASCII letters, no escapes.
func (p *parser) name() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c == '"' {
			s := string(p.b[start:p.i])
			p.i++
			return s, true
		}
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "", false
		}
		p.i++
	}
	return "", false
}

func (p *parser) int32() (int32, bool) {
	p.space()
	start := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 32)
	return int32(n), err == nil
}
