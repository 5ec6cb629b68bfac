package stream

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/testsupport/backuptest"
)

func TestKinesisTime(t *testing.T) {
	for _, c := range []struct {
		n, precision string
		want         int64
		bad          bool
	}{
		{"1720046486486729", "MICROSECOND", 1720046486486729, false},
		{"1720046486486", "MILLISECOND", 1720046486486000, false},
		{"1720046486486729", "", 1720046486486729, false}, // by size: microseconds
		{"1720046486486", "", 1720046486486000, false},    // milliseconds
		{"1720046486.5", "", 1720046486500000, false},     // seconds, as DynamoDB Streams
		{"1720046486486", "NANOSECOND", 0, true},
		{"", "MICROSECOND", 0, true},
		{"-1", "MICROSECOND", 0, true},
	} {
		got, err := KinesisTime(json.Number(c.n), c.precision)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("KinesisTime(%s, %q) = %d, %v; want %d (error %v)", c.n, c.precision, got, err, c.want, c.bad)
		}
	}
}

// A change's number orders by time, and is one number however often the
// change is delivered; two changes of one time differ.
func TestKinesisSeq(t *testing.T) {
	k := item.Item{"pk": &types.AttributeValueMemberS{Value: "a"}}
	img := func(v string) item.Item {
		return item.Item{"pk": &types.AttributeValueMemberS{Value: "a"}, "v": &types.AttributeValueMemberS{Value: v}}
	}
	a1, _ := KinesisSeq(1720046486486729, "MODIFY", false, k, img("x"))
	a2, _ := KinesisSeq(1720046486486729, "MODIFY", false, k, img("x"))
	b, _ := KinesisSeq(1720046486486729, "MODIFY", false, k, img("y"))
	later, _ := KinesisSeq(1720046486486730, "REMOVE", false, k, nil)
	if a1 != a2 || a1 == b || len(a1) != 27 {
		t.Fatalf("%s %s %s", a1, a2, b)
	}
	if compareSeq(a1, later) >= 0 || compareSeq(b, later) >= 0 {
		t.Fatalf("a later change sorts before: %s %s %s", a1, b, later)
	}
	ttl, _ := KinesisSeq(1720046486486730, "REMOVE", true, k, nil)
	if ttl == later {
		t.Fatal("a TTL delete and a caller's delete of one time have one number")
	}
}

// kinesisRecord is a Kinesis record as Lambda delivers it, data holding
// change (or, if raw, those bytes).
func kinesisRecord(seq string, change string) KinesisRecord {
	return KinesisRecord{EventSource: "aws:kinesis", EventSourceARN: "arn:aws:kinesis:us-east-1:123456789012:stream/orders-cdc",
		Kinesis: KinesisPayload{SequenceNumber: seq, Data: []byte(change)}}
}

// An undecodable Kinesis record ends the batch before it: the records
// before are written, and batchItemFailures names its Kinesis sequence
// number. The source setting refuses the other event shape.
func TestKinesisBatch(t *testing.T) {
	b := backuptest.New("bkt")
	h, err := New(b, Config{Bucket: b.Name, Prefix: "backups", Concurrency: 4, SkipApplied: true, Source: SourceKinesis}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	change := func(micros int64, v string) string {
		return `{"awsRegion":"us-east-1","eventName":"MODIFY","eventSource":"aws:dynamodb","recordFormat":"application/json","tableName":"Orders",` +
			`"dynamodb":{"ApproximateCreationDateTime":` + strconv.FormatInt(micros, 10) + `,"ApproximateCreationDateTimePrecision":"MICROSECOND",` +
			`"Keys":{"pk":{"S":"a"}},"NewImage":{"pk":{"S":"a"},"v":{"S":"` + v + `"}}}}`
	}
	ev := KinesisEvent{Records: []KinesisRecord{
		kinesisRecord("101", change(1720046486000002, "new")),
		kinesisRecord("102", change(1720046486000001, "old")), // out of order: superseded
		kinesisRecord("103", `{"eventName":`),
		kinesisRecord("104", change(1720046486000003, "after")),
	}}
	resp, err := h.HandleKinesis(t.Context(), ev)
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "103" {
		t.Fatalf("%v %+v", err, resp)
	}
	vs := b.Versions(objKey(t, `{"pk":{"S":"a"}}`))
	if len(vs) != 1 || !strings.Contains(string(vs[0].Body), `"new"`) || !strings.HasPrefix(vs[0].Meta[backup.MetaSequenceNumber], "01720046486000002") {
		t.Fatalf("versions %+v", vs)
	}
	// Redelivered from 103 on, fixed: "after" lands; the rest again is skipped.
	ev.Records[2] = kinesisRecord("103", change(1720046486000001, "old"))
	if resp, err := h.HandleKinesis(t.Context(), ev); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%v %+v", err, resp)
	}
	if vs := b.Versions(objKey(t, `{"pk":{"S":"a"}}`)); len(vs) != 2 || !strings.Contains(string(vs[1].Body), `"after"`) {
		t.Fatalf("versions after the redelivery %+v", vs)
	}
	if _, err := h.Handle(t.Context(), Event{Records: []Record{{EventName: "INSERT"}}}); err == nil || !strings.Contains(err.Error(), "DYNASNAP_SOURCE") {
		t.Errorf("a DynamoDB Streams event with DYNASNAP_SOURCE=kinesis: %v", err)
	}
	if _, err := New(b, Config{Bucket: b.Name, Source: SourceKinesis}, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("kinesis without the per-key check is accepted")
	}
}
