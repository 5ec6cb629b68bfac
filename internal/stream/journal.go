package stream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
)

// journalWriter remembers the table folders whose descriptor this process
// has seen right, so a warm writer makes one PUT per batch and nothing else.
type journalWriter struct {
	mu   sync.Mutex
	dirs map[string]*descriptorState // by table folder
}

type descriptorState struct {
	mu    sync.Mutex
	ok    bool
	items bool // the folder holds a per-item backup: written as items
	// itemsAt is when items was found: a minute later the descriptor is
	// read again, so a writer switches within a minute of an import of
	// the folder (compact --from-items, docs/JOURNAL.md).
	itemsAt time.Time
}

// ensureDescriptor makes dir a journal recording the configured lag, once
// per process. A failure is not cached: the next batch tries again.
func (h *Handler) ensureDescriptor(ctx context.Context, dir string) error {
	h.journal.mu.Lock()
	if h.journal.dirs == nil {
		h.journal.dirs = map[string]*descriptorState{}
	}
	d := h.journal.dirs[dir]
	if d == nil {
		d = &descriptorState{}
		h.journal.dirs[dir] = d
	}
	h.journal.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ok {
		return nil
	}
	if d.items && time.Since(d.itemsAt) < cmp.Or(h.cfg.ItemsRecheck, itemsRecheck) {
		return journal.ErrHoldsItems
	}
	if err := journal.EnsureDescriptor(ctx, h.cfg.Journal, dir, h.cfg.JournalLag, h.cfg.Tool); err != nil {
		if errors.Is(err, journal.ErrHoldsItems) {
			if d.items {
				d.itemsAt = time.Now()
				return err
			}
			d.items, d.itemsAt = true, time.Now()
			// Once per process: the backup goes on in the layout it has.
			h.log.Warn("DYNASNAP_LAYOUT=journal, but the table folder holds a per-item backup: writing items there, as before; "+
				"a journal would hide that history (docs/JOURNAL.md, moving over)", "folder", dir, "error", err.Error())
		}
		return fmt.Errorf("journal descriptor of s3://%s/%s: %w", h.cfg.Journal.Name(), dir, err)
	}
	if d.items {
		h.log.Info("the table folder is a journal now (its per-item backup was imported): writing segments", "folder", dir)
	}
	d.ok, d.items = true, false
	return nil
}

// itemsRecheck is how long a writer goes on writing items to a folder
// holding a per-item backup before it looks for a journal there again
// (Config.ItemsRecheck overrides it).
const itemsRecheck = time.Minute

// heldByItems reports whether a table folder of the batch holds a per-item
// backup, which keeps that layout whatever DYNASNAP_LAYOUT says: an
// upgrade to the journal layout never hides a history (or stops a backup).
// Other errors are left to the journal path, which retries the batch.
func (h *Handler) heldByItems(ctx context.Context, changes []*change) bool {
	seen := map[string]bool{}
	for _, c := range changes {
		dir := layout.TableLocation(h.cfg.Bucket, h.cfg.Prefix, c.table).Dir()
		if seen[dir] {
			continue
		}
		seen[dir] = true
		if errors.Is(h.ensureDescriptor(ctx, dir), journal.ErrHoldsItems) {
			return true
		}
	}
	return false
}

// segmentBatch is the part of a batch that goes to one table folder.
type segmentBatch struct {
	dir   string
	first int // position in the batch of its first record
	recs  []journal.Record
}

// handleJournal stores the decoded records (changes, those before stop) as
// one segment per table folder (docs/DESIGN.md §2.9). The batch succeeds
// only once every segment is stored; otherwise Lambda redelivers it from
// the first record of a folder whose segment failed, and readers count a
// change stored twice once (stream ARN and sequence number).
func (h *Handler) handleJournal(ctx context.Context, ev Event, changes []*change, stop int, start time.Time) (events.DynamoDBEventResponse, error) {
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	now := time.Now()
	var batches []*segmentBatch
	byDir := map[string]*segmentBatch{}
	undated := 0
	for _, c := range changes {
		rec, err := journalRecord(c)
		if err != nil {
			// Not expected after decode; stop here as for an undecodable record.
			h.log.Error("undecodable stream record", "position", c.pos, "sequence_number", c.seq, "error", err.Error())
			stop = c.pos
			break
		}
		if rec.TimeMs == 0 {
			// Without a change time the arrival is the latest it can
			// have been made; a record DynamoDB sends always has one.
			rec.TimeMs = now.UnixMilli()
			undated++
		}
		dir := layout.TableLocation(h.cfg.Bucket, h.cfg.Prefix, c.table).Dir()
		b := byDir[dir]
		if b == nil {
			b = &segmentBatch{dir: dir, first: c.pos}
			byDir[dir] = b
			batches = append(batches, b)
		}
		b.recs = append(b.recs, rec)
	}
	if undated > 0 {
		h.log.Warn("stream records without ApproximateCreationDateTime: stored with the time they arrived", "records", undated)
	}

	// One event source mapping reads one stream, so a batch is one folder
	// but for DYNASNAP_TABLE unset and a mapping shared by tables: written
	// one after the other, the first failure ends the batch there.
	first := stop
	var keys []string
	var stored, bytes int
	var firstErr error
	for _, b := range batches {
		sb := &sizedBucket{Bucket: h.cfg.Journal}
		err := h.ensureDescriptor(ctx, b.dir)
		var key string
		if err == nil {
			// Named by the time it is written: a reader lists segments by
			// name within the lag of the times it reads.
			key, err = journal.WriteSegment(ctx, sb, b.dir, b.recs, time.Now())
		}
		if err != nil {
			firstErr = err
			first = min(first, b.first)
			break
		}
		keys = append(keys, key)
		stored += len(b.recs)
		bytes += sb.put
	}
	h.recordDefinitions(ctx, changes)
	attrs := []any{"layout", LayoutJournal, "records", len(ev.Records), "stored", stored, "segments", len(keys),
		"segment_keys", keys, "bytes", bytes, "ms", time.Since(start).Milliseconds()}
	if first < len(ev.Records) {
		seq := ev.Records[first].Change.SequenceNumber
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seq})
		h.log.Warn("batch not stored in full; Lambda retries from the first record not stored",
			append(attrs, "first_failed_sequence_number", seq, "first_error", errString(firstErr))...)
		return resp, nil
	}
	h.log.Info("batch stored", attrs...)
	return resp, nil
}

// journalRecord is c as a journal record (docs/DESIGN.md §10.2).
func journalRecord(c *change) (journal.Record, error) {
	keys, err := item.Marshal(c.key)
	if err != nil {
		return journal.Record{}, fmt.Errorf("record %s Keys: %w", c.seq, err)
	}
	r := journal.Record{ID: c.id, Seq: c.seq, Stream: c.stream, Event: c.event, TTL: c.ttl, Keys: keys}
	if !c.meta.CreatedAt.IsZero() {
		r.TimeMs = c.meta.CreatedAt.UnixMilli()
	}
	if c.image != nil {
		if r.NewImage, err = item.Marshal(c.image); err != nil {
			return journal.Record{}, fmt.Errorf("record %s NewImage: %w", c.seq, err)
		}
	}
	return r, nil
}

// sizedBucket counts the bytes a segment's PUT stored, for the batch's log
// line.
type sizedBucket struct {
	journal.Bucket
	put int
}

func (b *sizedBucket) Put(ctx context.Context, key string, body []byte, ifAbsent bool) error {
	err := b.Bucket.Put(ctx, key, body, ifAbsent)
	if err == nil {
		b.put += len(body)
	}
	return err
}
