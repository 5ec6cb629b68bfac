package stream

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dynasnap/dynasnap/internal/item"
)

// The sources of Config.Source (DYNASNAP_SOURCE; template parameter Source).
const (
	SourceDynamoDBStream = "dynamodb-stream"
	SourceKinesis        = "kinesis"
)

// KinesisEvent is a batch of Kinesis Data Streams records as Lambda
// delivers it. With Kinesis Data Streams for DynamoDB, each record's data
// is one DynamoDB change record as JSON (docs/DESIGN.md §2.10).
type KinesisEvent struct {
	Records []KinesisRecord `json:"Records"`
}

// KinesisRecord is one record of a KinesisEvent.
type KinesisRecord struct {
	Kinesis        KinesisPayload `json:"kinesis"`
	EventSource    string         `json:"eventSource"` // aws:kinesis
	EventID        string         `json:"eventID"`     // shardId-…:<sequenceNumber>
	EventName      string         `json:"eventName"`   // aws:kinesis:record
	EventSourceARN string         `json:"eventSourceARN"`
	AWSRegion      string         `json:"awsRegion"`
}

// KinesisPayload is the "kinesis" part: Data is base64 in the event, which
// encoding/json decodes into the bytes.
type KinesisPayload struct {
	PartitionKey                string  `json:"partitionKey"`
	SequenceNumber              string  `json:"sequenceNumber"`
	Data                        []byte  `json:"data"`
	ApproximateArrivalTimestamp float64 `json:"approximateArrivalTimestamp"`
	KinesisSchemaVersion        string  `json:"kinesisSchemaVersion"`
}

// KinesisChange is the DynamoDB change record a Kinesis record carries
// (recordFormat application/json).
type KinesisChange struct {
	AWSRegion    string        `json:"awsRegion"`
	EventID      string        `json:"eventID"`
	EventName    string        `json:"eventName"`
	EventSource  string        `json:"eventSource"` // aws:dynamodb
	RecordFormat string        `json:"recordFormat"`
	TableName    string        `json:"tableName"`
	UserIdentity *UserIdentity `json:"userIdentity"`
	Change       struct {
		StreamRecord
		// ApproximateCreationDateTimePrecision is the unit of
		// ApproximateCreationDateTime: MICROSECOND (the default) or
		// MILLISECOND.
		ApproximateCreationDateTimePrecision string `json:"ApproximateCreationDateTimePrecision"`
	} `json:"dynamodb"`
}

// kinesisSeqDigits is the width of the time part of a Kinesis change's
// sequence number: Unix microseconds, zero-padded so that the numbers
// compare as the times until the year 5138.
const kinesisSeqDigits = 17

// KinesisTime is a Kinesis change's ApproximateCreationDateTime in Unix
// microseconds: an integer in the unit precision names; a record without
// it (written before the setting existed) is read by its size: at least
// 1e14 microseconds, at least 1e11 milliseconds, else seconds.
func KinesisTime(n json.Number, precision string) (int64, error) {
	if n == "" {
		return 0, errors.New("no ApproximateCreationDateTime")
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f <= 0 {
		return 0, fmt.Errorf("ApproximateCreationDateTime %q is not a positive number", n)
	}
	scale := 0.0
	switch strings.ToUpper(precision) {
	case "MICROSECOND":
		scale = 1
	case "MILLISECOND":
		scale = 1e3
	case "":
		switch {
		case f >= 1e14:
			scale = 1
		case f >= 1e11:
			scale = 1e3
		default:
			scale = 1e6
		}
	default:
		return 0, fmt.Errorf("ApproximateCreationDateTimePrecision %q is neither MICROSECOND nor MILLISECOND", precision)
	}
	if i, err := n.Int64(); err == nil && scale >= 1 {
		return i * int64(scale), nil
	}
	return int64(math.Round(f * scale)), nil
}

// KinesisSeq is the sequence number dynasnap gives a Kinesis change, which
// carries none of DynamoDB's (docs/DESIGN.md §2.10): its time in Unix
// microseconds, 17 digits, then the first 32 bits of the SHA-256 of what
// the change did (event, TTL, canonical Keys and NewImage) as 10 digits.
// So a key's changes order by time at the record's precision, changes of
// one time by that hash (arbitrary, but the same in every delivery order),
// and a change delivered twice has one number: the replay rule (§2.7) and
// the journal's (§10.3) skip or drop it as a duplicate.
func KinesisSeq(micros int64, event string, ttl bool, keys, image item.Item) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%t\x00", event, ttl)
	k, err := item.Marshal(keys)
	if err != nil {
		return "", err
	}
	h.Write(k)
	h.Write([]byte{0})
	if image != nil {
		b, err := item.Marshal(image)
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	sum := h.Sum(nil)
	return fmt.Sprintf("%0*d%010d", kinesisSeqDigits, micros, binary.BigEndian.Uint32(sum[:4])), nil
}

// toStreamRecord turns Kinesis record pos into the DynamoDB Streams record
// the writer applies: the stream is the Kinesis data stream's ARN, the
// sequence number KinesisSeq's, the table the record's tableName (unless
// the handler's DYNASNAP_TABLE names one).
func toStreamRecord(kr *KinesisRecord) (Record, string, int64, error) {
	var kc KinesisChange
	if err := json.Unmarshal(kr.Kinesis.Data, &kc); err != nil {
		return Record{}, "", 0, fmt.Errorf("kinesis record %s: data is not a DynamoDB change record: %w", kr.Kinesis.SequenceNumber, err)
	}
	if kc.RecordFormat != "" && kc.RecordFormat != "application/json" {
		return Record{}, "", 0, fmt.Errorf("kinesis record %s: recordFormat %q is not application/json", kr.Kinesis.SequenceNumber, kc.RecordFormat)
	}
	if kc.EventSource != "" && kc.EventSource != "aws:dynamodb" {
		return Record{}, "", 0, fmt.Errorf("kinesis record %s: eventSource %q is not aws:dynamodb (not a Kinesis Data Streams for DynamoDB record)", kr.Kinesis.SequenceNumber, kc.EventSource)
	}
	micros, err := KinesisTime(kc.Change.ApproximateCreationDateTime, kc.Change.ApproximateCreationDateTimePrecision)
	if err != nil {
		return Record{}, "", 0, fmt.Errorf("kinesis record %s: %w", kr.Kinesis.SequenceNumber, err)
	}
	r := Record{EventID: kc.EventID, EventName: kc.EventName, EventSource: kc.EventSource, EventSourceARN: kr.EventSourceARN,
		AWSRegion: kc.AWSRegion, Change: kc.Change.StreamRecord, UserIdentity: kc.UserIdentity}
	// Seconds, for the decoder; the exact microseconds are set after it.
	r.Change.ApproximateCreationDateTime = json.Number(fmt.Sprintf("%d.%06d", micros/1e6, micros%1e6))
	// A provisional sequence number for the decoder; the real one needs
	// the decoded images.
	r.Change.SequenceNumber = "0"
	return r, kc.TableName, micros, nil
}

// HandleKinesis applies a batch of Kinesis Data Streams for DynamoDB
// records: each becomes a change with KinesisSeq's sequence number and the
// Kinesis stream's ARN, then goes the DynamoDB Streams path (both layouts).
// batchItemFailures name Kinesis sequence numbers, as Lambda expects.
func (h *Handler) HandleKinesis(ctx context.Context, kev KinesisEvent) (events.DynamoDBEventResponse, error) {
	if h.cfg.Source == SourceDynamoDBStream {
		return events.DynamoDBEventResponse{}, fmt.Errorf("a Kinesis event, but DYNASNAP_SOURCE=%s: set it to %s (template parameter Source)", SourceDynamoDBStream, SourceKinesis)
	}
	ev := Event{Records: make([]Record, 0, len(kev.Records))}
	prep := make([]kinesisPrep, 0, len(kev.Records))
	for i := range kev.Records {
		r, table, micros, err := toStreamRecord(&kev.Records[i])
		if err != nil {
			// Undecodable: the batch stops before it, as in §2.7.
			h.log.Error("undecodable kinesis record", "position", i, "kinesis_sequence_number", kev.Records[i].Kinesis.SequenceNumber, "error", err.Error())
			break
		}
		ev.Records = append(ev.Records, r)
		prep = append(prep, kinesisPrep{table: table, micros: micros, kinesisSeq: kev.Records[i].Kinesis.SequenceNumber})
	}
	resp, err := h.handle(ctx, ev, prep)
	// Name the Kinesis record: the first with that change's number (a
	// duplicate earlier in the batch redelivers a little more, never less).
	for i, f := range resp.BatchItemFailures {
		for j := range ev.Records {
			if ev.Records[j].Change.SequenceNumber == f.ItemIdentifier {
				resp.BatchItemFailures[i].ItemIdentifier = prep[j].kinesisSeq
				break
			}
		}
	}
	if err == nil && len(ev.Records) < len(kev.Records) && len(resp.BatchItemFailures) == 0 {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: kev.Records[len(ev.Records)].Kinesis.SequenceNumber})
	}
	return resp, err
}

// Invoke takes either event shape, by its records' eventSource
// (aws:kinesis, else DynamoDB Streams): the Lambda's entry point.
func (h *Handler) Invoke(ctx context.Context, raw json.RawMessage) (events.DynamoDBEventResponse, error) {
	var peek struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(raw, &peek); err != nil {
		return events.DynamoDBEventResponse{}, fmt.Errorf("the event is not a batch of records: %w", err)
	}
	if len(peek.Records) > 0 && peek.Records[0].EventSource == "aws:kinesis" {
		var kev KinesisEvent
		if err := json.Unmarshal(raw, &kev); err != nil {
			return events.DynamoDBEventResponse{}, fmt.Errorf("a Kinesis event that does not decode: %w", err)
		}
		return h.HandleKinesis(ctx, kev)
	}
	var ev Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return events.DynamoDBEventResponse{}, fmt.Errorf("a DynamoDB Streams event that does not decode: %w", err)
	}
	return h.Handle(ctx, ev)
}

// kinesisPrep is what a Kinesis record adds to its change.
type kinesisPrep struct {
	table      string
	micros     int64
	kinesisSeq string
}

// completeKinesis completes each decoded change of a Kinesis batch; one
// that cannot be completed ends the batch there, as an undecodable record.
func (h *Handler) completeKinesis(ev Event, changes []*change, stop int, kinesis []kinesisPrep) ([]*change, int) {
	for i, c := range changes {
		if err := fixKinesis(c, &ev.Records[c.pos], kinesis[c.pos]); err != nil {
			h.log.Error("undecodable kinesis record", "position", c.pos, "error", err.Error())
			return changes[:i], c.pos
		}
	}
	return changes, stop
}

// fixKinesis completes a decoded Kinesis change: its sequence number
// (KinesisSeq), exact time and DynamoDB table; the record's
// SequenceNumber is updated too, as the batch's failures name it.
func fixKinesis(c *change, r *Record, p kinesisPrep) error {
	seq, err := KinesisSeq(p.micros, c.event, c.ttl, c.key, c.image)
	if err != nil {
		return fmt.Errorf("kinesis record %s: %w", p.kinesisSeq, err)
	}
	c.seq, r.Change.SequenceNumber = seq, seq
	c.meta.SequenceNumber = seq
	c.meta.CreatedAt = time.UnixMicro(p.micros).UTC()
	if c.source == "" {
		c.source = p.table
	}
	return nil
}

// newestPerKey keeps, for a Kinesis batch written as items, each object's
// newest change by sequence number (time, then hash): records of a key may
// arrive out of order, and the per-item layout can only put the newest on
// top; the others are superseded within the batch (the journal keeps every
// change). It returns the positions dropped.
func newestPerKey(changes []*change) ([]*change, []int) {
	newest := map[string]*change{}
	for _, c := range changes {
		if n, ok := newest[c.objKey]; !ok || compareSeq(c.seq, n.seq) > 0 {
			newest[c.objKey] = c
		}
	}
	kept := make([]*change, 0, len(newest))
	var dropped []int
	for _, c := range changes {
		if newest[c.objKey] == c {
			kept = append(kept, c)
		} else {
			dropped = append(dropped, c.pos)
		}
	}
	return kept, dropped
}

func compareSeq(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// markApplied counts dropped positions as applied (superseded in the
// batch), the slice grown to n records.
func (st *batchStats) markApplied(dropped []int, n int) {
	for len(st.applied) < n {
		st.applied = append(st.applied, false)
	}
	for _, p := range dropped {
		st.applied[p] = true
	}
}
