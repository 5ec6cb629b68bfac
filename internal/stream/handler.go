package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// S3API is every S3 call the handler makes.
type S3API interface {
	backup.S3API
	backup.ReadAPI
	backup.CopyAPI
	backup.VersioningAPI
}

// Config is the writer's configuration (from the Lambda's environment).
type Config struct {
	Bucket string
	Prefix string
	Table  string // overrides the table name taken from the event source ARN
	// Concurrency bounds the keys written at once.
	Concurrency int
	// SkipApplied reads each key's current version first and skips changes
	// the bucket already holds, so a retried batch adds no duplicate and no
	// out-of-order version. Costs one HEAD per key per batch.
	SkipApplied bool
	// DynamoDB, if set, reads the table's definition, recorded beside its
	// items on a cold start and whenever it changes (docs/DESIGN.md §2.8).
	DynamoDB tabledef.DescribeAPI
	// Scaling, if set, reads the table's auto scaling for the definition.
	Scaling tabledef.ScalingReadAPI
	// Lambda, if set, reads the stream's triggers for the definition.
	Lambda tabledef.LambdaReadAPI
	// DefinitionEvery is how often a warm writer reads the definition
	// again (0: DefaultDefinitionEvery; negative: never records it).
	DefinitionEvery time.Duration
	Tool            string // recorded with the definition and the journal's descriptor

	// Layout is how changes are stored: LayoutItems ("" too), one object
	// version per change (docs/DESIGN.md §2), or LayoutJournal, one segment
	// per batch and table folder (§10).
	Layout string
	// JournalLag is the longest delay between a change and the store of its
	// segment the deployment allows for (batching window and retries),
	// recorded in the journal's descriptor (0: journal.DefaultLag).
	JournalLag time.Duration
	// Source is what the function reads: SourceDynamoDBStream, or
	// SourceKinesis (Kinesis Data Streams for DynamoDB, §2.10); "" takes
	// either event shape.
	Source string
	// Journal is where the journal layout writes (nil: a journal.S3Bucket
	// on the handler's S3 client, which must then implement journal.S3API).
	Journal journal.Bucket
	// ItemsRecheck is how long the journal layout goes on writing items
	// to a folder holding a per-item backup before it looks for a journal
	// there again (0: a minute; DYNASNAP_ITEMS_RECHECK).
	ItemsRecheck time.Duration
}

// The layouts of Config.Layout (DYNASNAP_LAYOUT).
const (
	LayoutItems   = "items"
	LayoutJournal = "journal"
)

// Handler applies batches. It is safe for concurrent use.
type Handler struct {
	s3  S3API
	cfg Config
	log *slog.Logger

	mu           sync.Mutex
	versioningOK bool // checked once per process (a Lambda cold start)
	defs         definitions
	journal      journalWriter
}

// New returns a handler writing through client.
func New(client S3API, cfg Config, log *slog.Logger) (*Handler, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("no bucket: set DYNASNAP_BUCKET")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.DefinitionEvery == 0 {
		cfg.DefinitionEvery = DefaultDefinitionEvery
	}
	h := &Handler{s3: client, cfg: cfg, log: log}
	switch cfg.Source {
	case "", SourceDynamoDBStream:
	case SourceKinesis:
		if !cfg.SkipApplied {
			// Out-of-order and repeated records are put in order by the
			// replay rule's check (§2.10).
			return nil, errors.New("the kinesis source needs the per-key check: unset DYNASNAP_SKIP_APPLIED")
		}
	default:
		return nil, fmt.Errorf("source %q is neither %q nor %q (DYNASNAP_SOURCE)", cfg.Source, SourceDynamoDBStream, SourceKinesis)
	}
	switch cfg.Layout {
	case "", LayoutItems:
		h.cfg.Layout = LayoutItems
	case LayoutJournal:
		if h.cfg.JournalLag == 0 {
			h.cfg.JournalLag = journal.DefaultLag
		}
		if h.cfg.JournalLag < time.Second {
			return nil, fmt.Errorf("journal lag %v is under a second: set DYNASNAP_JOURNAL_LAG to the longest delivery delay (e.g. 5m)", h.cfg.JournalLag)
		}
		if h.cfg.Journal == nil {
			jc, ok := client.(journal.S3API)
			if !ok {
				return nil, fmt.Errorf("the journal layout needs an S3 client that lists, gets and puts objects (%T does not)", client)
			}
			h.cfg.Journal = &journal.S3Bucket{Client: jc, Bucket: cfg.Bucket}
		}
	default:
		return nil, fmt.Errorf("layout %q is neither %q nor %q (DYNASNAP_LAYOUT)", cfg.Layout, LayoutItems, LayoutJournal)
	}
	return h, nil
}

// checkVersioning runs once per process; a failure is not cached, so a
// bucket fixed after a failed invocation is picked up by the next one.
func (h *Handler) checkVersioning(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.versioningOK {
		return nil
	}
	if err := backup.CheckVersioning(ctx, h.s3, h.cfg.Bucket); err != nil {
		return err
	}
	h.versioningOK = true
	return nil
}

// Handle applies one batch and reports the first record it could not apply,
// so that Lambda retries from there and nothing after it is skipped. A
// configuration error (no versioning, a stream without new images) fails the
// whole invocation, so it shows in the function's Errors metric.
func (h *Handler) Handle(ctx context.Context, ev Event) (events.DynamoDBEventResponse, error) {
	if h.cfg.Source == SourceKinesis && len(ev.Records) > 0 {
		return events.DynamoDBEventResponse{}, fmt.Errorf("a DynamoDB Streams event, but DYNASNAP_SOURCE=%s: set it to %s (template parameter Source)", SourceKinesis, SourceDynamoDBStream)
	}
	return h.handle(ctx, ev, nil)
}

// handle applies a batch; kinesis, if set, completes each record's change
// (HandleKinesis).
func (h *Handler) handle(ctx context.Context, ev Event, kinesis []kinesisPrep) (events.DynamoDBEventResponse, error) {
	start := time.Now()
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	if len(ev.Records) == 0 {
		return resp, nil
	}
	if err := h.checkVersioning(ctx); err != nil {
		h.log.Error("refusing to write", "bucket", h.cfg.Bucket, "error", err.Error())
		return resp, err
	}
	ctx, cancel := withMargin(ctx)
	defer cancel()

	changes, stop, err := h.decodeAll(ev, kinesis)
	if err != nil {
		return resp, err
	}
	if kinesis != nil {
		changes, stop = h.completeKinesis(ev, changes, stop, kinesis)
	}
	if h.cfg.Layout == LayoutJournal && !h.heldByItems(ctx, changes) {
		return h.handleJournal(ctx, ev, changes, stop, start)
	}
	var superseded []int
	if kinesis != nil {
		changes, superseded = newestPerKey(changes)
	}
	st := h.apply(ctx, changes)
	st.markApplied(superseded, stop)
	h.recordDefinitions(ctx, changes)
	// Every record before the first one not applied is in the bucket; from
	// it on, Lambda redelivers the batch.
	first := stop
	for i := 0; i < stop; i++ {
		if !st.applied[i] {
			first = i
			break
		}
	}
	attrs := []any{"records", len(ev.Records), "keys", st.keys, "puts", st.puts, "deletes", st.deletes, "expired", st.expired,
		"skipped", st.skipped, "skipped_same_stream", st.skippedBy[skipSameStream],
		"skipped_delete_applied", st.skippedBy[skipDeleteApplied], "older_stream_writes", st.olderStream, "failed", len(ev.Records) - countTrue(st.applied), "ms", time.Since(start).Milliseconds()}
	if first < len(ev.Records) {
		seq := ev.Records[first].Change.SequenceNumber
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seq})
		h.log.Warn("batch partly applied; Lambda retries from the first failed record",
			append(attrs, "first_failed_sequence_number", seq, "first_error", st.firstErr)...)
		return resp, nil
	}
	h.log.Info("batch applied", attrs...)
	return resp, nil
}

// decodeAll decodes the batch up to the first record that cannot be decoded
// (stop): records from there on are not applied, as Lambda redelivers them.
func (h *Handler) decodeAll(ev Event, kinesis []kinesisPrep) ([]*change, int, error) {
	changes := make([]*change, 0, len(ev.Records))
	for i := range ev.Records {
		table := h.cfg.Table
		if table == "" && kinesis != nil {
			table = kinesis[i].table // a Kinesis ARN names no table: the record's tableName
		}
		c, err := decode(i, &ev.Records[i], table)
		if err == nil {
			c.id, err = item.KeyID(c.key)
			if err != nil {
				err = fmt.Errorf("object id: %w", err)
			} else {
				c.objKey = layout.TableLocation(h.cfg.Bucket, h.cfg.Prefix, c.table).ObjectKey(c.id)
			}
		}
		if errors.Is(err, ErrViewType) {
			h.log.Error("stream view type cannot be backed up", "error", err.Error())
			return nil, 0, err
		}
		if err != nil {
			h.log.Error("undecodable stream record", "position", i, "sequence_number", ev.Records[i].Change.SequenceNumber, "error", err.Error())
			return changes, i, nil
		}
		changes = append(changes, c)
	}
	return changes, len(ev.Records), nil
}

// withMargin ends the work a little before Lambda's deadline, so that the
// handler still returns a partial batch response instead of timing out.
func withMargin(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := time.Until(dl) / 10
	margin = min(max(margin, 200*time.Millisecond), 3*time.Second)
	return context.WithDeadline(ctx, dl.Add(-margin))
}

func countTrue(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprint(err)
}
