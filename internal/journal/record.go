package journal

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/item"
)

// Event names of a Record; BACKFILL marks an item a backfill Scan read.
const (
	EventInsert   = "INSERT"
	EventModify   = "MODIFY"
	EventRemove   = "REMOVE"
	EventBackfill = "BACKFILL"
)

// Record is one change of one item (docs/DESIGN.md §10.2), or in a base one
// item's state. Keys and NewImage are canonical compact DynamoDB JSON.
type Record struct {
	ID       string          `json:"id"`               // the object id of the item's key (§2.1)
	TimeMs   int64           `json:"timeMs"`           // ApproximateCreationDateTime (backfill: when the page was read), Unix ms
	StoredMs int64           `json:"storedMs"`         // when the segment holding it was stored (S3 LastModified), Unix ms; 0 in a segment
	Seq      string          `json:"seq,omitempty"`    // SequenceNumber
	Stream   string          `json:"stream,omitempty"` // eventSourceARN, stream label included
	Event    string          `json:"event"`
	TTL      bool            `json:"ttl,omitempty"` // a REMOVE made by TTL (userIdentity dynamodb.amazonaws.com)
	Keys     json.RawMessage `json:"Keys"`
	NewImage json.RawMessage `json:"NewImage,omitempty"`

	// raw is the line the record was read from as AppendLine writes it
	// (no newline), so a record that passes through a merge is copied,
	// not encoded again (appendRaw); nil when it was spelt otherwise.
	// stored is where its storedMs digits are, rawStored their value.
	raw       []byte
	storedOff [2]int32
	rawStored int64
	fromBase  bool // read from a base (the compactor's fold tells them apart)
}

// Time is the change's time in DynamoDB.
func (r *Record) Time() time.Time { return time.UnixMilli(r.TimeMs).UTC() }

// IsDelete reports whether the record removes its item.
func (r *Record) IsDelete() bool { return r.Event == EventRemove }

// Effective is the record's time for the time rule (§10.4), in Unix ms:
// its change time, or its segment's store time less the lag when the
// segment was stored later than the lag allows, whichever is later; in
// whole seconds, as S3's LastModified and DynamoDB Streams' times are, so
// a state at T holds everything made in second T.
func (r *Record) Effective(lag time.Duration) int64 {
	t := r.TimeMs - r.TimeMs%1000
	if r.StoredMs == 0 {
		return t
	}
	s := r.StoredMs - r.StoredMs%1000
	return max(t, s-lag.Milliseconds())
}

// AppendLine appends r as one JSON line (with its newline), fields in the
// order of the struct, so equal records give equal bytes.
func (r *Record) AppendLine(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = item.AppendString(dst, r.ID)
	dst = append(dst, `,"timeMs":`...)
	dst = strconv.AppendInt(dst, r.TimeMs, 10)
	dst = append(dst, `,"storedMs":`...)
	dst = strconv.AppendInt(dst, r.StoredMs, 10)
	if r.Seq != "" {
		dst = append(dst, `,"seq":`...)
		dst = item.AppendString(dst, r.Seq)
	}
	if r.Stream != "" {
		dst = append(dst, `,"stream":`...)
		dst = item.AppendString(dst, r.Stream)
	}
	dst = append(dst, `,"event":`...)
	dst = item.AppendString(dst, r.Event)
	if r.TTL {
		dst = append(dst, `,"ttl":true`...)
	}
	dst = append(dst, `,"Keys":`...)
	dst = append(dst, r.Keys...)
	if len(r.NewImage) > 0 {
		dst = append(dst, `,"NewImage":`...)
		dst = append(dst, r.NewImage...)
	}
	return append(dst, "}\n"...)
}

// appendRaw appends r's line as AppendLine would write it: the line it
// was read from, its storedMs replaced when it changed (a segment's 0).
func (r *Record) appendRaw(dst []byte) []byte {
	if r.raw == nil {
		return r.AppendLine(dst)
	}
	if r.StoredMs == r.rawStored {
		dst = append(dst, r.raw...)
	} else {
		dst = append(dst, r.raw[:r.storedOff[0]]...)
		dst = strconv.AppendInt(dst, r.StoredMs, 10)
		dst = append(dst, r.raw[r.storedOff[1]:]...)
	}
	return append(dst, '\n')
}

// ParseLine decodes one line written by AppendLine (or by another program
// following §10.2) and checks what a reader relies on.
func ParseLine(line []byte) (Record, error) {
	var r Record
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&r); err != nil {
		return r, fmt.Errorf("not a journal record: %w", err)
	}
	return r, r.check()
}

func (r *Record) check() error {
	if len(r.ID) == 0 {
		return fmt.Errorf("journal record without id")
	}
	switch r.Event {
	case EventInsert, EventModify, EventBackfill:
		if len(r.NewImage) == 0 || string(r.NewImage) == "null" {
			return fmt.Errorf("journal record %s (%s) has no NewImage", r.ID, r.Event)
		}
	case EventRemove:
	default:
		return fmt.Errorf("journal record %s: unknown event %q", r.ID, r.Event)
	}
	if len(r.Keys) == 0 {
		return fmt.Errorf("journal record %s has no Keys", r.ID)
	}
	return nil
}

// order compares two records of one key in the order their changes were
// made (docs/DESIGN.md §10.3): backfill images first, then by stream (the
// stream label's time, then the ARN), then by sequence number as a number.
func order(a, b *Record) int {
	if c := cmp.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	if a.Event == EventBackfill {
		return cmp.Compare(a.TimeMs, b.TimeMs)
	}
	if a.Stream != b.Stream {
		// A Kinesis data stream has no label (§2.10): against another
		// stream, its changes order by their times.
		if isKinesis(a.Stream) || isKinesis(b.Stream) {
			if c := cmp.Compare(a.TimeMs, b.TimeMs); c != 0 {
				return c
			}
		}
		la, lb := labelTime(a.Stream), labelTime(b.Stream)
		if c := cmp.Compare(la, lb); c != 0 {
			return c
		}
		return strings.Compare(a.Stream, b.Stream)
	}
	return compareSeq(a.Seq, b.Seq)
}

func rank(r *Record) int {
	if r.Event == EventBackfill {
		return 0
	}
	return 1
}

// same reports whether two records are one change delivered twice.
func same(a, b *Record) bool {
	return a.Event != EventBackfill && b.Event != EventBackfill && a.Seq != "" && a.Seq == b.Seq && a.Stream == b.Stream
}

// compareSeq compares decimal sequence numbers (up to 40 digits) as numbers.
func compareSeq(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if isDigits(a) && isDigits(b) {
			return cmp.Compare(len(a), len(b))
		}
		x, okx := new(big.Int).SetString(a, 10)
		y, oky := new(big.Int).SetString(b, 10)
		if okx && oky {
			return x.Cmp(y)
		}
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isKinesis reports whether a record's stream is a Kinesis data stream
// (arn:aws:kinesis:…), whose changes carry dynasnap's time-ordered
// sequence numbers (docs/DESIGN.md §2.10).
func isKinesis(arn string) bool { return strings.Contains(arn, ":kinesis:") }

// labelTime is the Unix ms of a stream ARN's label, or 0 when it has none
// (docs/DESIGN.md §2.7: labels order a table's streams).
func labelTime(arn string) int64 {
	_, label, ok := strings.Cut(arn, "/stream/")
	if !ok {
		return 0
	}
	t, err := time.Parse("2006-01-02T15:04:05", label)
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}
