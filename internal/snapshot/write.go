package snapshot

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/fastget"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/scan"
	"github.com/dynasnap/dynasnap/internal/store"
)

// Options configure a snapshot run.
type Options struct {
	Source          layout.Location // the table's folder in the backup bucket
	At              time.Time
	Format          string // jsonl or parquet
	Parquet         ParquetOptions
	Compression     string // gzip, zstd or none
	SingleFile      bool
	Concurrency     int   // GetObject requests in flight
	ListConcurrency int   // ranges listed at once
	Ranges          int   // key ranges (rounded up to a power of 16)
	MaxKeys         int32 // list page size; small values test paging
	SSE, SSEKMSKey  string
	Tool            string // recorded in the summary
	TempDir         string // for --single-file staging; default os.TempDir()
	// Base, if set, is an earlier snapshot of the same source: items whose
	// chosen version it already holds are copied from it, not fetched.
	Base *Snapshot
	// Shard/Shards, if Shards > 0, restrict the run to ranges i with
	// i % Shards == Shard and write a shard manifest instead of the
	// snapshot's manifests (see Commit).
	Shard, Shards int
	// SkipBadObjects skips versions that are not a readable DynamoDB item
	// (corrupt, empty, too large, archived) and lists them in the result,
	// instead of stopping at the first.
	SkipBadObjects bool
	// Filter, if set, keeps only the items for which it returns true.
	Filter func(item.Item) (bool, error)
	// FilterText is the filter's source, recorded in the summary.
	FilterText string

	// Progress counters, optional.
	Listed, Fetched, Written *progress.Counter
}

// Result is what a finished run reports.
type Result struct {
	Summary        *Summary
	Items          int64
	VersionsListed int64
	Repeats        int64
	Fetched        int64 // GetObject requests
	Reused         int64 // items copied from the base
	Filtered       int64 // items left out by the filter
	BadObjects     []BadObject
	BytesWritten   int64
	DataFiles      int
	Elapsed        time.Duration
	// OldestVersion is the earliest LastModified listed: an --at before it
	// gives an empty snapshot.
	OldestVersion time.Time
}

type task struct {
	entry scan.Entry
	body  []byte
	skip  bool // filtered out, or a bad object skipped
	err   error
	done  chan struct{}
}

func (o *Options) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 256
	}
	if o.ListConcurrency <= 0 {
		o.ListConcurrency = 16
	}
	if o.Ranges <= 0 {
		o.Ranges = 16
	}
	if o.Compression == "" {
		o.Compression = "gzip"
	}
	if o.Format == "" {
		o.Format = "jsonl"
	}
	for _, c := range []**progress.Counter{&o.Listed, &o.Fetched, &o.Written} {
		if *c == nil {
			*c = &progress.Counter{}
		}
	}
}

// Run writes the snapshot of opts.Source at opts.At into out. Manifests are
// written last, after every data file is committed: an interrupted run
// leaves no manifest-summary.json, and a rerun into the same folder clears
// what it left and starts again.
func Run(ctx context.Context, client *s3.Client, out store.Store, opts Options) (*Result, error) {
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
	if err := prepareOutput(ctx, out, opts.Shards > 0); err != nil {
		return nil, err
	}
	if err := CheckSource(ctx, client, opts.Source); err != nil {
		return nil, err
	}
	if err := prepareParquet(ctx, client, out, &opts); err != nil {
		return nil, err
	}

	partStore := out
	if opts.SingleFile {
		dir, err := os.MkdirTemp(opts.TempDir, "dynasnap-parts-")
		if err != nil {
			return nil, fmt.Errorf("staging folder for --single-file: %w", err)
		}
		defer os.RemoveAll(dir)
		partStore = store.NewLocal(dir)
	}

	stats := &scan.Stats{}
	lister := &scan.Lister{Client: client, Bucket: opts.Source.Bucket, Dir: opts.Source.Dir(), MaxKeys: opts.MaxKeys, Stats: stats}
	ranges := scan.Ranges(opts.Source.Dir(), opts.Ranges)
	counts := &runCounts{}
	entries := make([]*FileEntry, len(ranges))
	oldest := make([]time.Time, len(ranges))
	ext := extension(opts.Format, opts.Compression)

	f := &fetcher{reader: fastget.NewReader(client), bucket: opts.Source.Bucket, skipBad: opts.SkipBadObjects, filter: opts.Filter, fetched: opts.Fetched}
	defer f.reader.Close()
	g, gctx := errgroup.WithContext(ctx)
	fetchQ := make(chan *task, opts.Concurrency)
	for i := 0; i < opts.Concurrency; i++ {
		g.Go(func() error { return f.loop(gctx, fetchQ) })
	}
	// Each range keeps a window of fetches in flight, sized so that all
	// fetchers stay busy even when only a few ranges are left.
	window := max(opts.Concurrency/opts.ListConcurrency*2, 32)
	rangeG, rctx := errgroup.WithContext(gctx)
	rangeG.SetLimit(opts.ListConcurrency)
	g.Go(func() error {
		for _, r := range ranges {
			if opts.Shards > 0 && r.Index%opts.Shards != opts.Shard {
				continue
			}
			rangeG.Go(func() error {
				p := &part{st: partStore, format: opts.Format, compression: opts.Compression, written: opts.Written.Add, parquet: &opts.Parquet,
					data: fmt.Sprintf("%s/part-%05d%s", DataDir, r.Index, ext),
					side: fmt.Sprintf("%s/part-%05d%s", SidecarDir, r.Index, sidecarExtension(opts.Compression))}
				p.entry.Range = r.Index
				o, err := snapshotRange(rctx, lister, r, opts, p, f, fetchQ, window, counts)
				if err != nil {
					p.abort()
					return err
				}
				ok, err := p.commit(rctx)
				if err != nil {
					return err
				}
				if ok {
					entries[r.Index] = &p.entry
				}
				oldest[r.Index] = o
				return nil
			})
		}
		err := rangeG.Wait()
		close(fetchQ)
		return err
	})
	err = g.Wait()
	if err != nil {
		return nil, err
	}
	if stats.Versions.Load() == 0 && opts.Shards == 0 {
		// Most likely a wrong table name or prefix: an empty snapshot would
		// pass for a backup of an empty table.
		return nil, fmt.Errorf("no object versions under %s: check --source (s3://BUCKET/PREFIX/TABLE) and that the stream writer or backfill has written there", opts.Source)
	}

	var files []FileEntry
	for _, e := range entries {
		if e != nil {
			files = append(files, *e)
		}
	}
	if opts.SingleFile && len(files) > 0 {
		joined, err := joinParts(ctx, partStore, out, files, opts)
		if err != nil {
			return nil, err
		}
		files = []FileEntry{joined}
	}
	res := &Result{VersionsListed: stats.Versions.Load(), Repeats: stats.Repeats.Load(), DataFiles: len(files),
		Fetched: counts.fetched.Load(), Reused: counts.reused.Load(), Filtered: f.filtered.Load(), BadObjects: f.bad}
	for _, f := range files {
		res.Items += f.ItemCount
		res.BytesWritten += f.SizeBytes
	}
	for _, o := range oldest {
		if !o.IsZero() && (res.OldestVersion.IsZero() || o.Before(res.OldestVersion)) {
			res.OldestVersion = o
		}
	}
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

// snapshotRange lists one range, folds it, and writes the chosen versions in
// key order while up to window of them are being fetched.
func snapshotRange(ctx context.Context, l *scan.Lister, r scan.Range, opts Options, p *part, f *fetcher, fetchQ chan<- *task, window int, counts *runCounts) (time.Time, error) {
	pending := make(chan *task, window)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for t := range pending {
			select {
			case <-t.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if t.err != nil {
				return t.err
			}
			if t.skip {
				continue
			}
			if err := p.add(ctx, t.entry, t.body); err != nil {
				return err
			}
			t.body = nil
		}
		return nil
	})
	var oldest time.Time
	g.Go(func() error {
		defer close(pending)
		base, stop := baseRange(ctx, opts.Base, r)
		defer stop()
		fold := &scan.Folder{At: opts.At, Emit: func(e scan.Entry) error {
			t := &task{entry: e, done: make(chan struct{})}
			reuse, err := base.match(e)
			if err != nil {
				return err
			}
			if reuse != nil {
				t.body = reuse
				t.skip, t.err = f.keep(reuse)
				close(t.done)
				counts.reused.Add(1)
			}
			select {
			case pending <- t:
			case <-ctx.Done():
				return ctx.Err()
			}
			if reuse != nil {
				return nil
			}
			counts.fetched.Add(1)
			select {
			case fetchQ <- t:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		}}
		err := l.Walk(ctx, r, func(e scan.Entry) error {
			opts.Listed.Add(1)
			if oldest.IsZero() || e.LastModified.Before(oldest) {
				oldest = e.LastModified
			}
			return fold.Add(e)
		})
		if err != nil {
			return err
		}
		if err := fold.Flush(); err != nil {
			return err
		}
		// Read the base's range to its end: a data file's MD5 is only known
		// there, and a corrupt base must fail the run rather than have its
		// items copied unchecked (found by the reliability suite).
		return base.drain()
	})
	return oldest, g.Wait()
}

// prepareOutput refuses a folder that holds a finished snapshot and clears
// the files an interrupted run left in one that does not.
func prepareOutput(ctx context.Context, out store.Store, shard bool) error {
	done, err := out.Exists(ctx, SummaryName)
	if err != nil {
		return err
	}
	if done {
		return fmt.Errorf("%s already holds a snapshot (it has %s); choose a new folder", out.URL(""), SummaryName)
	}
	if shard {
		// Other shards write into the same folder at the same time; each
		// overwrites only its own parts.
		return nil
	}
	for _, dir := range []string{DataDir, SidecarDir} {
		names, err := out.List(ctx, dir)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := out.Remove(ctx, n); err != nil {
				return err
			}
		}
	}
	return out.Remove(ctx, FilesName)
}

// CheckSource gives clear errors for a missing or unversioned bucket.
func CheckSource(ctx context.Context, client *s3.Client, src layout.Location) error {
	v, err := client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(src.Bucket)})
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchBucket") {
			return fmt.Errorf("source bucket %s does not exist", src.Bucket)
		}
		return fmt.Errorf("check versioning of bucket %s: %w", src.Bucket, err)
	}
	if v.Status != "Enabled" && v.Status != "Suspended" {
		return fmt.Errorf("source bucket %s does not have versioning enabled, so it holds no history to snapshot; enable it (aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled) before the stream writer runs", src.Bucket, src.Bucket)
	}
	return nil
}

// joinParts joins the staged parts, in range order, into one data file and
// one sidecar, as --single-file asks: the sidecars are concatenated, and the
// data files are handed to the format's joiner. JSON lines concatenate
// (gzip members and zstd frames do); Parquet parts merge by row group.
func joinParts(ctx context.Context, staged, out store.Store, files []FileEntry, opts Options) (FileEntry, error) {
	joined := FileEntry{Range: -1, FirstKey: files[0].FirstKey, LastKey: files[len(files)-1].LastKey}
	data := path.Join(DataDir, "snapshot"+extension(opts.Format, opts.Compression))
	side := path.Join(SidecarDir, "snapshot"+sidecarExtension(opts.Compression))
	df, err := out.Create(ctx, data)
	if err != nil {
		return joined, err
	}
	sf, err := out.Create(ctx, side)
	if err != nil {
		df.Abort()
		return joined, err
	}
	abort := func(err error) (FileEntry, error) {
		df.Abort()
		sf.Abort()
		return joined, err
	}
	dc := &countingWriter{w: df, md5: md5New()}
	j, err := newJoiner(ctx, staged, dc, opts)
	if err != nil {
		return abort(err)
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return abort(err)
		}
		joined.ItemCount += f.ItemCount
		if err := j.add(f.Data); err != nil {
			return abort(err)
		}
		if err := copyFile(ctx, staged, f.Sidecar, sf); err != nil {
			return abort(err)
		}
	}
	if err := j.close(); err != nil {
		return abort(err)
	}
	return commitJoined(ctx, out, df, sf, dc, joined, data, side)
}

// commitJoined commits the joined data file and sidecar of --single-file
// and describes them for the manifest.
func commitJoined(ctx context.Context, out store.Store, df, sf store.File, dc *countingWriter, joined FileEntry, data, side string) (FileEntry, error) {
	if err := df.Commit(ctx); err != nil {
		sf.Abort()
		return joined, err
	}
	if err := sf.Commit(ctx); err != nil {
		return joined, err
	}
	joined.MD5Checksum = b64(dc.md5.Sum(nil))
	joined.SizeBytes = dc.n
	joined.Data, joined.Sidecar = data, side
	joined.DataFileS3Key, joined.SidecarS3Key = out.Key(data), out.Key(side)
	return joined, nil
}

func copyFile(ctx context.Context, st store.Store, name string, w io.Writer) error {
	r, err := st.Open(ctx, name)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("join %s: %w", name, err)
	}
	return nil
}

func commitManifests(ctx context.Context, out store.Store, files []FileEntry, opts Options, outFormat string, res *Result, start time.Time) (*Summary, error) {
	sum := &Summary{
		Version: "2020-06-30", StartTime: start.UTC(), EndTime: time.Now().UTC(), ExportTime: opts.At.UTC(),
		ManifestFilesS3Key: out.Key(FilesName), ItemCount: res.Items, OutputFormat: outFormat, ExportType: "FULL_EXPORT",
		Dynasnap: Details{FormatVersion: FormatVersion, Source: opts.Source.String(), Table: opts.Source.Table(),
			Compression: opts.Compression, DataFiles: len(files), VersionsListed: res.VersionsListed,
			Ranges: len(rangesFor(opts.Ranges)), SingleFile: opts.SingleFile, Tool: opts.Tool,
			Filter: opts.FilterText, SkippedObjects: res.BadObjects},
	}
	if opts.Base != nil {
		sum.Dynasnap.Base = opts.Base.Store.URL("")
	}
	if s3out, ok := out.(*store.S3); ok {
		b, p := s3out.Location()
		sum.S3Bucket, sum.S3Prefix = &b, &p
		if opts.SSE != "" {
			sum.S3SSEAlgorithm = &opts.SSE
		}
		if opts.SSEKMSKey != "" {
			sum.S3SSEKMSKeyID = &opts.SSEKMSKey
		}
	}
	return sum, writeManifests(ctx, out, files, sum)
}

func rangesFor(n int) []scan.Range { return scan.Ranges("", n) }
