// Package backfill copies an existing table into the backup layout with a
// parallel Scan, so that a table whose stream was turned on late still has a
// full backup. It writes through the same writer as the stream Lambda.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"github.com/dynasnap/dynasnap/internal/awserr"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/retry"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// DynamoAPI is the part of the DynamoDB client backfill uses.
type DynamoAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// S3API is the part of the S3 client backfill uses.
type S3API interface {
	backup.S3API
	backup.VersioningAPI
}

// Options configure a run.
type Options struct {
	Table    string
	Dest     layout.Location // the table's objects go to Dest/<table>/
	Segments int             // parallel Scan segments
	// Concurrency bounds the PUTs in flight over all segments.
	Concurrency int
	// ReadRate caps the Scan's consumed read capacity units per second (0: no cap).
	ReadRate float64
	// PageSize is the Scan Limit (0: DynamoDB's 1 MB pages).
	PageSize int32
	// Checkpoint is a local file recording each segment's progress; an
	// existing one is resumed. Empty: no checkpoint.
	Checkpoint string
	// Overwrite writes every item even when its object exists. By default a
	// put is conditional, so a newer version the stream already wrote is
	// never buried under the older scanned image.
	Overwrite bool
	// Progress, if set, is called about every ProgressEvery with the totals.
	Progress      func(Stats)
	ProgressEvery time.Duration
	// Retries of a throttled call on top of the SDK's own (default 8).
	Retries int
	// Tool is recorded with the table's definition.
	Tool string
	// Scaling, if set, reads the table's auto scaling for the definition.
	Scaling tabledef.ScalingReadAPI
	// Lambda, if set, reads the stream's triggers for the definition.
	Lambda tabledef.LambdaReadAPI
	// Journal, when set, makes the backfill a journal base (docs/DESIGN.md
	// §10.8) in this bucket instead of one object per item: each Scan page
	// a sorted run, merged into the base when every segment is done.
	Journal journal.Bucket
	// JournalLag is the lag recorded when the backfill starts the journal
	// (0: journal.DefaultLag); an existing journal keeps its own.
	JournalLag time.Duration
}

// Stats are running totals.
type Stats struct {
	Scanned      int64   // items read
	Written      int64   // objects put
	Existing     int64   // items skipped because their object exists
	Capacity     float64 // read capacity units consumed
	Segments     int
	SegmentsDone int64
	TableItems   int64 // DescribeTable's approximate item count
	Elapsed      time.Duration
	// Base is the journal base written (zero: none), and BaseItems its items.
	Base      time.Time
	BaseItems int64
	// Definition says what became of the table's definition: "recorded",
	// "unchanged" (the current version holds it), or why it was not
	// recorded or only in part (docs/DESIGN.md §2.8).
	Definition string
}

type run struct {
	opts    Options
	ddb     DynamoAPI
	w       *backup.Writer
	keys    []string
	limiter *retry.Limiter // the read-rate cap; nil: none
	cp      *checkpoint
	sem     chan struct{}
	start   time.Time

	scanned, written, existing, segsDone atomic.Int64
	baseAt                               time.Time
	baseItems                            int64
	mu                                   sync.Mutex
	capacity                             float64
	tableItems                           int64
	definition                           string
}

// Run backfills opts.Table. It returns the totals, also on error.
func Run(ctx context.Context, ddb DynamoAPI, s3c S3API, opts Options) (Stats, error) {
	if opts.Table == "" || opts.Dest.Bucket == "" {
		return Stats{}, errors.New("backfill needs a table and a destination bucket")
	}
	opts.Segments = max(opts.Segments, 1)
	opts.Concurrency = max(opts.Concurrency, 1)
	if opts.Retries == 0 {
		opts.Retries = 8
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = time.Second
	}
	r := &run{opts: opts, ddb: ddb, w: backup.New(s3c, opts.Dest.Bucket, opts.Dest.Prefix, opts.Table),
		limiter: retry.NewLimiter(opts.ReadRate, 0), sem: make(chan struct{}, opts.Concurrency), start: time.Now()}
	if err := backup.CheckVersioning(ctx, s3c, opts.Dest.Bucket); err != nil {
		return r.stats(), err
	}
	if err := r.describe(ctx); err != nil {
		return r.stats(), err
	}
	r.definition = r.recordDefinition(ctx, s3c)
	cp, err := loadCheckpoint(opts.Checkpoint, opts.Table, r.w.Location().String(), opts.Segments)
	if err != nil {
		return r.stats(), err
	}
	r.cp = cp
	if opts.Journal != nil {
		if err := r.startBase(ctx); err != nil {
			return r.stats(), err
		}
	}
	for seg := range opts.Segments {
		if cp.Done[seg] {
			r.segsDone.Add(1)
		}
	}
	stop := r.reportProgress()
	defer stop()
	g, gctx := errgroup.WithContext(ctx)
	for seg := range opts.Segments {
		if cp.Done[seg] {
			continue
		}
		g.Go(func() error { return r.segment(gctx, seg) })
	}
	if err = g.Wait(); err != nil || opts.Journal == nil {
		return r.stats(), err
	}
	return r.stats(), r.finishBase(ctx)
}

// backoff is between retries of a throttled call: the SDK's retryer has
// already retried it, so a long backfill rides out a longer spell of
// throttling instead of failing hours in. A variable so tests can shorten it.
var backoff = retry.Backoff{Base: 200 * time.Millisecond, Cap: 20 * time.Second}

// retry calls fn until it succeeds, fails with an error other than
// throttling, or has been retried opts.Retries times.
func (r *run) retry(ctx context.Context, fn func() error) error {
	return retry.Do(ctx, backoff, r.opts.Retries, retry.IsThrottle, fn)
}

func (r *run) describe(ctx context.Context) error {
	var out *dynamodb.DescribeTableOutput
	err := r.retry(ctx, func() error {
		var err error
		out, err = r.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(r.opts.Table)})
		return err
	})
	if err != nil {
		return fmt.Errorf("describe table %s: %w", r.opts.Table, err)
	}
	for _, k := range out.Table.KeySchema {
		r.keys = append(r.keys, aws.ToString(k.AttributeName))
	}
	if len(r.keys) == 0 {
		return fmt.Errorf("table %s has no key schema", r.opts.Table)
	}
	r.tableItems = aws.ToInt64(out.Table.ItemCount)
	return nil
}

func (r *run) stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Scanned: r.scanned.Load(), Written: r.written.Load(), Existing: r.existing.Load(), Capacity: r.capacity,
		Segments: r.opts.Segments, SegmentsDone: r.segsDone.Load(), TableItems: r.tableItems, Elapsed: time.Since(r.start),
		Definition: r.definition, Base: r.baseAt, BaseItems: r.baseItems}
}

func (r *run) reportProgress() (stop func()) {
	if r.opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.opts.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.opts.Progress(r.stats())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// recordDefinition stores the table's definition beside its items, as the
// stream writer does. A failure costs the definition, never the backfill:
// the items matter most.
func (r *run) recordDefinition(ctx context.Context, s3c S3API) string {
	api, ok := r.ddb.(tabledef.DescribeAPI)
	put, ok2 := s3c.(tabledef.S3API)
	if !ok || !ok2 {
		return "not recorded: the client cannot describe the table"
	}
	d, partial, err := tabledef.Describe(ctx, api, tabledef.Services{Scaling: r.opts.Scaling, Lambda: r.opts.Lambda}, r.opts.Table)
	if err != nil {
		return fmt.Sprintf("not recorded: %s", awserr.Text(err))
	}
	d.Dynasnap.RecordedBy, d.Dynasnap.Tool = "backfill", r.opts.Tool
	loc := r.w.Location()
	wrote, err := tabledef.Record(ctx, put, loc, d)
	switch {
	case err != nil:
		return fmt.Sprintf("not recorded: %s", awserr.Text(err))
	case partial != nil && wrote:
		return fmt.Sprintf("recorded in part at s3://%s/%s (%s not read: %s)", loc.Bucket, tabledef.ObjectKey(loc), strings.Join(d.Dynasnap.Unread, ", "), awserr.Text(partial))
	case wrote:
		return fmt.Sprintf("recorded at s3://%s/%s", loc.Bucket, tabledef.ObjectKey(loc))
	}
	return fmt.Sprintf("unchanged at s3://%s/%s", loc.Bucket, tabledef.ObjectKey(loc))
}

// dir is the table folder, "prefix/table/".
func (r *run) dir() string { return r.w.Location().Dir() }

// startBase fixes the base's time (a resumed run keeps its own) and makes
// the table folder a journal if it is not one yet.
func (r *run) startBase(ctx context.Context) error {
	// Changes are timed in whole seconds: every change from the Scan's
	// first second on is after the base, and replayed on top of it.
	at, err := r.cp.baseAt(r.start.Truncate(time.Second).Add(-time.Second))
	if err != nil {
		return err
	}
	r.baseAt = at
	lag := r.opts.JournalLag
	if lag <= 0 {
		lag = journal.DefaultLag
	}
	return journal.CreateDescriptor(ctx, r.opts.Journal, r.dir(), lag, r.opts.Tool)
}

// finishBase merges the runs into the base once every segment is done; its
// states are exact from now on (the Scan has ended).
func (r *run) finishBase(ctx context.Context) error {
	n, err := journal.FinishBase(ctx, r.opts.Journal, r.dir(), r.baseAt, time.Now(), r.opts.Tool, 0)
	r.mu.Lock()
	r.baseItems = n
	r.mu.Unlock()
	if err != nil {
		return fmt.Errorf("merge the journal base: %w", err)
	}
	return nil
}
