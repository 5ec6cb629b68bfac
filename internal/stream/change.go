package stream

import (
	"errors"
	"fmt"

	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/item"
)

// ErrViewType means the stream does not carry the new image of a change, so
// the writer cannot back it up. It is a configuration error, not a bad record.
var ErrViewType = errors.New("stream record has no NewImage")

// change is one decoded record, ready to apply.
type change struct {
	pos    int // index in the batch: stream order within the shard
	seq    string
	stream string // the eventSourceARN, stream label included; may be empty
	event  string // INSERT, MODIFY, REMOVE
	ttl    bool   // a REMOVE made by TTL
	table  string // the table folder's name
	source string // the DynamoDB table, from the event source ARN ("" if none)
	key    item.Item
	image  item.Item // nil for a REMOVE
	meta   backup.Meta
	id     string // the object id of key (docs/DESIGN.md §2.1)
	objKey string
}

// decode validates and decodes record pos. table overrides the table name
// from the ARN when set.
func decode(pos int, r *Record, table string) (*change, error) {
	c := &change{pos: pos, seq: r.Change.SequenceNumber, stream: r.EventSourceARN, event: r.EventName, ttl: r.IsTTL()}
	c.source, _ = TableFromARN(r.EventSourceARN)
	if c.seq == "" {
		return nil, fmt.Errorf("record %d (event %s) has no SequenceNumber", pos, r.EventID)
	}
	if table == "" {
		t, err := TableFromARN(r.EventSourceARN)
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", c.seq, err)
		}
		table = t
	}
	c.table = table
	at, err := creationTime(r.Change.ApproximateCreationDateTime)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", c.seq, err)
	}
	c.meta = backup.Meta{SequenceNumber: c.seq, StreamARN: c.stream, CreatedAt: at, Source: "stream"}
	if !hasImage(r.Change.Keys) {
		return nil, fmt.Errorf("record %s has no Keys", c.seq)
	}
	if c.key, err = item.Unmarshal(r.Change.Keys); err != nil {
		return nil, fmt.Errorf("record %s Keys: %w", c.seq, err)
	}
	switch r.EventName {
	case "INSERT", "MODIFY":
		if !hasImage(r.Change.NewImage) {
			view := r.Change.StreamViewType
			if view == "" {
				view = "unknown"
			}
			return nil, fmt.Errorf("%w: record %s (%s) of table %s comes from a stream with view type %s; "+
				"the backup needs the item's new image: set the table's StreamViewType to NEW_AND_OLD_IMAGES or NEW_IMAGE "+
				"(a new stream; records of this one cannot be backed up)", ErrViewType, c.seq, r.EventName, table, view)
		}
		if c.image, err = item.Unmarshal(r.Change.NewImage); err != nil {
			return nil, fmt.Errorf("record %s NewImage: %w", c.seq, err)
		}
		// The image must hold the key it is filed under, or a snapshot would
		// hand out an item whose key differs from its object's.
		for name, v := range c.key {
			iv, ok := c.image[name]
			if !ok {
				return nil, fmt.Errorf("record %s: NewImage lacks key attribute %q", c.seq, name)
			}
			a, _ := item.MarshalValue(v)
			b, _ := item.MarshalValue(iv)
			if string(a) != string(b) {
				return nil, fmt.Errorf("record %s: NewImage key attribute %q differs from Keys", c.seq, name)
			}
		}
	case "REMOVE":
	default:
		return nil, fmt.Errorf("record %s: unknown eventName %q", c.seq, r.EventName)
	}
	return c, nil
}
