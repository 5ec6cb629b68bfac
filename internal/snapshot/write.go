package snapshot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynasnap/dynasnap/internal/exportfmt"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// DefaultFileSize is where a data file is cut, in bytes of item JSON before
// compression (a compressor emits its output in blocks, so its count lags):
// large enough that a table of millions of items is a handful of files,
// small enough that a restore reads several at once and resumes by file.
const DefaultFileSize = 256 << 20

// Options configure a snapshot run.
type Options struct {
	Source layout.Location // the table's folder in the backup bucket
	At     time.Time
	// ClockSkew is how far the server's clock may run ahead: the listing
	// starts once At's second is over by this much (docs/DESIGN.md §3).
	// 0 means history.DefaultClockSkew; negative, none.
	ClockSkew       time.Duration
	Format          string // jsonl or parquet
	Parquet         ParquetOptions
	Compression     string // gzip, zstd or none
	SingleFile      bool
	FileSize        int64 // cut data files after this many bytes of item JSON; 0 means DefaultFileSize
	Concurrency     int   // GetObject requests in flight
	ListConcurrency int   // prefixes listed at once
	Ranges          int   // key ranges, 1..65536; 0 means auto (docs/DESIGN.md §4)
	MaxKeys         int32 // list page size; small values test paging
	SSE, SSEKMSKey  string
	Tool            string // recorded in the summary
	// Base, if set, is an earlier snapshot of the same source: items whose
	// chosen version it already holds are copied from it, not fetched.
	Base *Snapshot
	// Shard/Shards, if Shards > 0, restrict the run to one contiguous block
	// of the ranges and write a shard manifest instead of the snapshot's
	// manifests (see Commit).
	Shard, Shards int
	// SkipBadObjects skips versions that are not a readable DynamoDB item
	// (corrupt, empty, too large, archived) and lists them in the result,
	// instead of stopping at the first.
	SkipBadObjects bool
	// Filter, if set, keeps only the items for which it returns true.
	Filter func(item.Item) (bool, error)
	// KeepReplication keeps a legacy global table's aws:rep:* attributes
	// in the items (--keep-replication-attributes); by default they are
	// left out, as restore would drop them anyway.
	KeepReplication bool
	// FilterText is the filter's source, recorded in the summary.
	FilterText string
	// TableARN and TableID, when known (from the table definition recorded
	// with the backup), fill the summary's tableArn and tableId and make
	// exportArn a real ARN (TableARN/export/<id>). Empty: null in the
	// summary, and exportArn holds the export id alone.
	TableARN, TableID string
	// Preflight, if set, checks the source (versioning, lifecycle
	// horizon) beside the first listing pages; nothing is written to the
	// output before it passes, and its error stops the run.
	Preflight func(context.Context) error

	// Progress counters, optional.
	Listed, Fetched, Written *progress.Counter
}

// Result is what a finished run reports.
type Result struct {
	Summary        *Summary
	Items          int64
	VersionsListed int64
	// VersionsNewer counts listed versions stamped after At: left out.
	VersionsNewer int64
	// Late counts a journal's changes made by At but stored too late to
	// count at it (docs/DESIGN.md §10.4); JournalObjects what it read.
	Late, JournalObjects int64
	Repeats              int64
	ListRequests         int64
	Prefixes             int64 // prefixes listed
	Fetched              int64 // GetObject requests
	Reused               int64 // items copied from the base
	Filtered             int64 // items left out by the filter
	BadObjects           []history.BadObject
	BytesWritten         int64
	// BilledSize is the items' size by DynamoDB's rules (item.Size),
	// summed: the summary's billedSizeBytes.
	BilledSize int64
	DataFiles  int
	Elapsed    time.Duration
	// OldestVersion is the earliest LastModified listed: an At before it
	// gives an empty snapshot.
	OldestVersion time.Time
	// CopiedFrom is, when the data files are copies of a journal base's
	// export files (docs/DESIGN.md §10.6), that base's folder;
	// ReadyDamaged, when such files were found damaged, why the state was
	// read instead.
	CopiedFrom   string
	ReadyDamaged error
	// Definition is the table's definition at At as the backup records it
	// (Def nil: none then), copied to table-definition.json.
	Definition *tabledef.Recorded
}

func (o *Options) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 256
	}
	if o.Compression == "" {
		o.Compression = "gzip"
	}
	if o.Format == "" {
		o.Format = "jsonl"
	}
	if o.FileSize <= 0 {
		o.FileSize = DefaultFileSize
	}
	if o.SingleFile {
		o.FileSize = 0 // never cut
	}
	for _, c := range []**progress.Counter{&o.Listed, &o.Fetched, &o.Written} {
		if *c == nil {
			*c = &progress.Counter{}
		}
	}
}

func (o *Options) plan() history.Plan {
	p := history.Plan{Ranges: o.Ranges, ListConcurrency: o.ListConcurrency, PageSize: o.MaxKeys}
	if o.Shards > 0 {
		p.Shard, p.Shards = o.Shard, o.Shards
	}
	return p
}

// Run writes the snapshot of opts.Source at opts.At, read from src, into
// out. Manifests are written last, after every data file is committed: an
// interrupted run leaves no manifest-summary.json, and a rerun into the
// same folder clears what it left and starts again.
func Run(ctx context.Context, src history.Source, out store.Store, opts Options) (_ *Result, err error) {
	opts.defaults()
	start := time.Now()
	outFormat, err := outputFormat(opts.Format)
	if err != nil {
		return nil, err
	}
	if err := checkCompression(opts.Compression); err != nil {
		return nil, err
	}
	if err := checkRunShape(&opts); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	gate := openOutput(ctx, cancel, out, &opts)
	// Runs last: a run that stops unfinished removes what it wrote and
	// its claim (docs/DESIGN.md §5.9).
	defer func() { gate.finish(ctx, err) }()
	var side sync.WaitGroup
	defer func() {
		cancel(nil)
		<-gate.done // no request of the run outlives it
		side.Wait()
	}()
	if err := history.Wait(ctx, opts.At, opts.ClockSkew); err != nil {
		return nil, gateFirst(gate, cancel, err)
	}
	// The definition is one more short history (a list and a read): read
	// beside the items, not after them.
	defc := make(chan definitionRead, 1)
	side.Go(func() {
		rec, err := tabledef.At(ctx, src, opts.Source, opts.At)
		defc <- definitionRead{rec, err}
	})
	if err := prepareParquet(ctx, src, out, &opts, func() error { return gate.wait(ctx) }); err != nil {
		return nil, gateFirst(gate, cancel, err)
	}

	stats := &history.Stats{}
	ps := &parts{st: out, opts: &opts}
	var readyErr error // ready-made files found damaged, and read instead
	var reused, filtered, newer atomic.Int64
	base, err := newBaseCursor(ctx, opts.Base, opts.Source.Dir(), opts.plan())
	if err != nil {
		return nil, gateFirst(gate, cancel, err)
	}
	defer base.close()
	ps.ready = func() error { return gate.wait(ctx) }
	w := &history.Walk[[]byte]{Source: src, Dir: opts.Source.Dir(), Plan: opts.plan(), Times: []time.Time{opts.At},
		Fetchers: opts.Concurrency, Canonical: true, WithItem: opts.Filter != nil, Validate: true, SkipBad: opts.SkipBadObjects, Stats: stats, Listed: opts.Listed, Fetched: opts.Fetched,
		Pick: func(k *history.Key) ([]history.Entry, []byte, bool, error) {
			newer.Add(int64(k.Newer))
			if !k.Exists[0] {
				return nil, nil, false, nil
			}
			body, err := base.match(k.At[0])
			if err != nil || body != nil {
				return nil, body, err == nil, err
			}
			return []history.Entry{k.At[0]}, nil, true, nil
		},
		Emit: func(ctx context.Context, k *history.Key, reuse []byte, got []history.Version) error {
			if reuse != nil {
				reused.Add(1)
				size, ok := item.CanonicalSize(reuse)
				if !ok {
					it, err := item.Unmarshal(reuse)
					if err != nil {
						return fmt.Errorf("base item %s: %w", k.ObjectKey, err)
					}
					size = item.Size(it)
				}
				return ps.addItem(ctx, k.At[0], reuse, size)
			}
			return ps.addItem(ctx, k.At[0], got[0].JSON, got[0].ItemSize)
		},
	}
	if opts.Filter != nil {
		w.Keep = func(_ context.Context, k *history.Key, reuse []byte, got []history.Version) (bool, error) {
			it := item.Item(nil)
			if reuse != nil {
				var err error
				if it, err = item.Unmarshal(reuse); err != nil {
					return false, fmt.Errorf("base item %s: %w", k.ObjectKey, err)
				}
			} else {
				it = got[0].Item
			}
			ok, err := opts.Filter(it)
			if err == nil && !ok {
				filtered.Add(1)
			}
			return ok, err
		}
	}
	var wres *history.WalkResult
	rsrc, ready, err := readyFiles(ctx, src, &opts)
	if err == nil && ready != nil {
		err = ps.copyReady(ctx, rsrc, ready)
		if errors.Is(err, errReadyDamaged) {
			// The base's own parts hold the state too: read them.
			readyErr, ready, err = err, nil, nil
		}
	}
	if err == nil && ready == nil {
		wres, err = w.Run(ctx)
		if err == nil {
			// Read the base's files to their end: a data file's MD5 is only
			// known there, and a corrupt base must fail the run rather than
			// have its items copied unchecked.
			err = base.drain()
		}
	}
	if err == nil {
		err = ps.close(ctx)
	}
	if err == nil {
		// Nothing may have been written yet (an empty snapshot): the
		// checks must still pass.
		err = gate.wait(ctx)
	}
	if err != nil {
		ps.abort()
		return nil, gateFirst(gate, cancel, err)
	}
	if ready != nil {
		stats.JournalReads.Add(ready.Reads + int64(2*len(ready.Files)))
		wres = &history.WalkResult{}
	}
	if stats.Versions.Load() == 0 && stats.JournalReads.Load() == 0 && opts.Shards == 0 {
		// Most likely a wrong table name or prefix: an empty snapshot would
		// pass for a backup of an empty table. (A journal read before its
		// first change is empty and right.)
		return nil, fmt.Errorf("no object versions under %s: check --source (s3://BUCKET/PREFIX/TABLE) and that the stream writer or backfill has written there", opts.Source)
	}
	def, err := copyDefinition(ctx, out, <-defc)
	if err != nil {
		return nil, err
	}
	files := ps.files
	res := &Result{Definition: def, VersionsListed: stats.Versions.Load(), VersionsNewer: newer.Load(), Repeats: stats.Repeats.Load(),
		Late: stats.Late.Load(), JournalObjects: stats.JournalReads.Load(),
		ListRequests: stats.Requests.Load(), Prefixes: stats.Prefixes.Load(), DataFiles: len(files),
		Fetched: opts.Fetched.Load(), Reused: reused.Load(), Filtered: filtered.Load(), BadObjects: wres.BadObjects, OldestVersion: wres.Oldest,
		ReadyDamaged: readyErr}
	if ready != nil {
		res.CopiedFrom = ready.From
	}
	for _, f := range files {
		res.Items += f.ItemCount
		res.BytesWritten += f.SizeBytes
	}
	res.BilledSize = ps.billed.Load()
	if opts.Shards > 0 {
		res.Elapsed = time.Since(start)
		return res, writeShardManifest(ctx, out, files, opts, outFormat, res, start)
	}
	sum, err := commitManifests(ctx, out, files, opts, outFormat, res, start)
	if err != nil {
		return nil, err
	}
	res.Summary = sum
	res.Elapsed = time.Since(start)
	return res, nil
}

// parts writes the data files of a run in key order, cutting a file once
// it holds FileSize bytes of items, so the number of files follows the table's size,
// not the number of ranges.
type parts struct {
	st    store.Store
	opts  *Options
	ready func() error // blocks until the output may be written
	cur   *part
	n     int
	files []FileEntry
	// billed sums the items' DynamoDB sizes (Emit runs in key order, one
	// at a time, but the counter keeps it safe either way).
	billed atomic.Int64
}

// addItem adds an item's canonical JSON, first without its aws:rep:*
// attributes unless KeepReplication.
func (ps *parts) addItem(ctx context.Context, e history.Entry, body []byte, size int64) error {
	if !ps.opts.KeepReplication {
		var err error
		if body, size, err = exportfmt.WithoutReplication(body, size); err != nil {
			return fmt.Errorf("item %s: %w", e.Key, err)
		}
	}
	return ps.add(ctx, e, body, size)
}

func (ps *parts) name(dir, ext string) string {
	if ps.opts.SingleFile {
		return dir + "/snapshot" + ext
	}
	if ps.opts.Shards > 0 {
		return fmt.Sprintf("%s/part-%05d-%05d%s", dir, ps.opts.Shard, ps.n, ext)
	}
	return fmt.Sprintf("%s/part-%05d%s", dir, ps.n, ext)
}

func (ps *parts) add(ctx context.Context, e history.Entry, body []byte, size int64) error {
	o := ps.opts
	ps.billed.Add(size)
	if ps.cur == nil {
		if err := ps.ready(); err != nil {
			return err
		}
		ps.cur = &part{st: ps.st, format: o.Format, compression: o.Compression, written: o.Written.Add, parquet: &o.Parquet,
			data: ps.name(DataDir, extension(o.Format, o.Compression)), side: ps.name(SidecarDir, sidecarExtension(o.Compression))}
		ps.n++
	}
	if err := ps.cur.add(ctx, e, body); err != nil {
		return err
	}
	if o.FileSize > 0 && ps.cur.raw >= o.FileSize {
		return ps.commit(ctx)
	}
	return nil
}

func (ps *parts) commit(ctx context.Context) error {
	p := ps.cur
	ps.cur = nil
	ok, err := p.commit(ctx)
	if err != nil {
		p.abort()
		return err
	}
	if ok {
		ps.files = append(ps.files, p.entry)
	}
	return nil
}

func (ps *parts) close(ctx context.Context) error {
	if ps.cur == nil {
		return nil
	}
	return ps.commit(ctx)
}

func (ps *parts) abort() {
	if ps.cur != nil {
		ps.cur.abort()
	}
}

// copyDefinition copies the table's definition in force at At, by the
// items' time rule, into the snapshot as table-definition.json, byte for
// byte as the backup holds it (docs/DESIGN.md §5.10).
func copyDefinition(ctx context.Context, out store.Store, read definitionRead) (*tabledef.Recorded, error) {
	rec, err := read.rec, read.err
	if err != nil {
		return nil, err
	}
	if rec.Def != nil {
		if err := out.Put(ctx, DefinitionName, rec.Raw); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// definitionRead is the table definition at At, read beside the items.
type definitionRead struct {
	rec *tabledef.Recorded
	err error
}

// gateFirst stops the run and returns the gate's own error if it has one
// (a failed check explains a stopped walk), else err.
func gateFirst(g *outputGate, cancel context.CancelCauseFunc, err error) error {
	cancel(err)
	if gerr := g.cause(); gerr != nil {
		return gerr
	}
	return err
}

// fillDefinition fills the summary's fields that the definition knows.
func fillDefinition(sum *Summary, rec *tabledef.Recorded) {
	if rec == nil || rec.Def == nil {
		return
	}
	if a := rec.Def.TableArn; a != "" {
		sum.TableARN = &a
	}
	if id := rec.Def.TableId; id != "" {
		sum.TableID = &id
	}
	sum.Dynasnap.TableDefinition = &DefinitionRef{File: DefinitionName, Key: rec.Key, VersionID: rec.From.VersionID,
		LastModified: rec.From.LastModified.UTC()}
}

// tableIdentity is the table ARN and id a summary names: those given, else
// the recorded definition's.
func tableIdentity(sum *Summary, arn, id string) (string, string) {
	if arn == "" && sum.TableARN != nil {
		arn = *sum.TableARN
	}
	if id == "" && sum.TableID != nil {
		id = *sum.TableID
	}
	return arn, id
}

func commitManifests(ctx context.Context, out store.Store, files []FileEntry, opts Options, outFormat string, res *Result, start time.Time) (*Summary, error) {
	sum := &Summary{
		Version: FullVersion, StartTime: start.UTC(), EndTime: time.Now().UTC(), ExportTime: opts.At.UTC(),
		ManifestFilesS3Key: out.Key(FilesName), BilledSizeBytes: res.BilledSize, ItemCount: res.Items, OutputFormat: outFormat,
		Dynasnap: Details{FormatVersion: FormatVersion, Source: opts.Source.String(), Table: opts.Source.Table(),
			Compression: opts.Compression, DataFiles: len(files), VersionsListed: res.VersionsListed, VersionsNewer: res.VersionsNewer,
			Ranges: rangeCount(opts.Ranges), SingleFile: opts.SingleFile, Tool: opts.Tool,
			Filter: opts.FilterText, SkippedObjects: res.BadObjects},
	}
	if opts.Base != nil {
		sum.Dynasnap.Base = opts.Base.Store.URL("")
	}
	sum.Dynasnap.CopiedFrom = res.CopiedFrom
	fillDefinition(sum, res.Definition)
	arn, id := tableIdentity(sum, opts.TableARN, opts.TableID)
	DescribeOutput(sum, out, ExportID(opts.At, opts.Source.String(), opts.FilterText), arn, id, opts.SSE, opts.SSEKMSKey)
	return sum, WriteManifests(ctx, out, files, sum)
}

func rangeCount(n int) int {
	if n <= 0 {
		return history.AutoRanges
	}
	return n
}

// CheckOut refuses an output folder in or over the backup folder src:
// only the stream writer and backfill may write there, and a snapshot
// there would be read back as backup versions.
func CheckOut(src layout.Location, out string) error {
	if !layout.IsS3URL(out) {
		return nil
	}
	dst, err := layout.ParseS3URL(out)
	if err != nil {
		return err
	}
	if src.Contains(dst) || dst.Contains(src) {
		return fmt.Errorf("%s overlaps the backup folder %s; nothing but the stream writer may write there", dst, src)
	}
	if parent := src.Child(".."); parent.Prefix != "" && parent.Prefix != "." && parent.Contains(dst) {
		return fmt.Errorf("%s is inside the backup prefix %s, where only the stream writer and backfill write", dst, parent)
	}
	return nil
}
