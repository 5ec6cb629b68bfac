package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/filter"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

const snapshotExamples = `  # the table as it was two hours ago, as gzipped JSON lines in a local folder
  dynasnap snapshot --source s3://backups/dynasnap/orders --at -2h --out ./orders-snap

  # at an exact time, into S3, encrypted with a KMS key, one data file
  dynasnap snapshot --source s3://backups/dynasnap/orders --at 2026-11-26T09:30:00Z \
      --out s3://exports/orders/2026-11-26T0930 --single-file --sse aws:kms --sse-kms-key-id alias/exports

  # Parquet for Athena, typed as the table schema file says; then the DDL
  dynasnap snapshot --source s3://backups/dynasnap/orders --format parquet --schema schemas/examples/orders.json \
      --out s3://analytics/orders/2026-11-26
  dynasnap athena-ddl s3://analytics/orders/2026-11-26 --table-name orders_20261126`

func cmdSnapshot(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 && args[0] == "commit" {
		return cmdSnapshotCommit(ctx, a, args[1:])
	}
	fs := newFlags(a, "snapshot", "snapshot --source s3://BUCKET/PREFIX/TABLE --out DEST [--at TIME] [flags]", snapshotExamples)
	source := fs.String("source", "", "the table's backup folder: s3://BUCKET/PREFIX/TABLE (required)")
	at := fs.String("at", "", "point in time: RFC 3339 (2026-11-26T09:30:00Z) or a duration ago (-2h, -90m); default: the last whole second before the scan starts")
	out := fs.String("out", "", "the snapshot's own folder: a local path or s3://bucket/prefix; must not hold a snapshot already (required)")
	format := fs.String("format", "jsonl", "data file format: jsonl (DynamoDB JSON lines, as AWS exports write) or parquet (typed columns for Athena, zstd by default)")
	pqFlags := addParquetFlags(fs)
	singleFile := fs.Bool("single-file", false, "write the whole snapshot as one data file (still with its manifests)")
	compression := fs.String("compression", "gzip", "data file compression: gzip, zstd or none")
	sse := fs.String("sse", "", "server-side encryption of S3 output: AES256 or aws:kms")
	kmsKey := fs.String("sse-kms-key-id", "", "KMS key for --sse aws:kms (default: the AWS managed key)")
	concurrency := fs.Int("concurrency", 256, "GetObject requests in flight")
	listConcurrency := fs.Int("list-concurrency", 16, "key ranges listed at once")
	ranges := fs.Int("ranges", 16, "key ranges the table's objects are split into (rounded up to 16, 256 or 4096)")
	pageSize := fs.Int32("page-size", 0, "versions per ListObjectVersions page (default: the server's, 1000)")
	base := fs.String("base", "", "an earlier snapshot of the same source (local or s3://): unchanged items are copied from it instead of fetched")
	shard := fs.String("shard", "", "run one shard of a sharded snapshot: I/N (0-based), or auto/N to take I from JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX; then run 'dynasnap snapshot commit --out DEST'")
	whereExpr := fs.String("where", "", `keep only items matching this CEL expression over "item", e.g. 'item.tenant == "acme" && item.updated > 1700000000'`)
	keyPrefix := fs.String("key-prefix", "", "keep only items whose partition key starts with this: ATTR=PREFIX, e.g. pk=acme#")
	skipBad := fs.Bool("skip-bad-objects", false, "skip versions that are not readable DynamoDB items (corrupt, empty, over 400 KB, archived) and list them in the summary, instead of stopping")
	quiet := fs.Bool("quiet", false, "no progress and no summary line on stderr")
	jsonOut := fs.Bool("json", false, "print a machine-readable summary as JSON on stdout")
	awsOpts := awsFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	pqOpts, err := pqFlags.options(*format, compression, fs.Changed("compression"))
	if err != nil {
		return err
	}
	if *source == "" || *out == "" {
		return usageError{"--source and --out are required"}
	}
	src, err := layout.ParseS3URL(*source)
	if err != nil {
		return usageError{fmt.Sprintf("--source: %v", err)}
	}
	if src.Prefix == "" {
		return usageError{"--source must name the table's folder, s3://BUCKET/PREFIX/TABLE"}
	}
	now := time.Now()
	atTime, err := parseAt(*at, now)
	if err != nil {
		return usageError{fmt.Sprintf("--at: %v", err)}
	}
	if err := checkSnapshotOut(src, *out); err != nil {
		return err
	}
	if !layout.IsS3URL(*out) && (*sse != "" || *kmsKey != "") {
		return usageError{"--sse and --sse-kms-key-id apply to s3:// outputs only"}
	}

	sel, err := filter.New(*whereExpr, *keyPrefix, "")
	if err != nil {
		return usageError{err.Error()}
	}
	var match func(item.Item) (bool, error)
	if *whereExpr != "" || *keyPrefix != "" {
		match = sel.Match
	}
	shardIndex, shardCount, err := parseShardSpec(*shard)
	if err != nil {
		return usageError{fmt.Sprintf("--shard: %v", err)}
	}
	if shardCount > 0 && (*at == "" || !strings.Contains(*at, "T")) {
		return usageError{"--shard needs an absolute --at (RFC 3339), the same for every shard"}
	}
	clients, err := loadAWS(ctx, awsOpts, *concurrency+*listConcurrency+8)
	if err != nil {
		return err
	}
	dest, err := store.Open(clients, *out, store.Options{SSE: *sse, SSEKMSKeyID: *kmsKey})
	if err != nil {
		return usageError{err.Error()}
	}
	var baseSnap *snapshot.Snapshot
	if *base != "" {
		bst, err := store.Open(clients, *base, store.Options{})
		if err != nil {
			return usageError{fmt.Sprintf("--base: %v", err)}
		}
		if baseSnap, err = snapshot.Open(ctx, bst); err != nil {
			return fmt.Errorf("--base: %w", err)
		}
	}
	listed := &progress.Counter{Name: "versions listed"}
	fetched := &progress.Counter{Name: "items fetched"}
	written := &progress.Counter{Name: "written", Unit: "bytes"}
	rep := progress.New(a.stderr, *quiet, listed, fetched, written)
	rep.Start(ctx)
	res, err := snapshot.Run(ctx, clients.S3(), dest, snapshot.Options{
		Source: src, At: atTime, Format: *format, Compression: *compression, SingleFile: *singleFile,
		Concurrency: *concurrency, ListConcurrency: *listConcurrency, Ranges: *ranges, MaxKeys: *pageSize,
		SSE: *sse, SSEKMSKey: *kmsKey, Tool: "dynasnap " + version(), Base: baseSnap, Shard: shardIndex, Shards: shardCount,
		SkipBadObjects: *skipBad, Filter: match, FilterText: sel.String(), Parquet: pqOpts,
		Listed: listed, Fetched: fetched, Written: written,
	})
	rep.Stop()
	if err != nil {
		return err
	}
	secs := res.Elapsed.Seconds()
	where := dest.URL("")
	if !layout.IsS3URL(*out) {
		where, _ = filepath.Abs(*out)
	}
	if !*quiet && shardCount > 0 {
		fmt.Fprintf(a.stderr, "shard %d/%d of %s at %s: %d items in %.1fs; run 'dynasnap snapshot commit --out %s' when all shards are done\n",
			shardIndex, shardCount, src, atTime.UTC().Format(time.RFC3339Nano), res.Items, secs, *out)
	} else if !*quiet {
		if res.Items == 0 && (res.OldestVersion.IsZero() || atTime.Before(res.OldestVersion)) {
			fmt.Fprintf(a.stderr, "warning: %s has no version at or before %s (oldest: %s); the snapshot is empty\n",
				src, atTime.UTC().Format(time.RFC3339), fmtTime(res.OldestVersion))
		}
		fmt.Fprintf(a.stderr, "snapshot of %s at %s: %d items from %d versions in %.1fs (%.0f items/s), %d data files, %.1f MB -> %s\n",
			src, atTime.UTC().Format(time.RFC3339Nano), res.Items, res.VersionsListed, secs, float64(res.Items)/secs,
			res.DataFiles, float64(res.BytesWritten)/1e6, where)
		for _, b := range res.BadObjects {
			fmt.Fprintf(a.stderr, "skipped bad object s3://%s/%s version %s: %s\n", src.Bucket, b.Key, b.VersionID, b.Reason)
		}
		if pqOpts.Misses != nil && pqOpts.Misses.Load() > 0 {
			fmt.Fprintf(a.stderr, "parquet: %d values did not fit their column's type and are NULL there (whole in the item column); see %s\n",
				pqOpts.Misses.Load(), snapshot.SchemaName)
		}
		if baseSnap != nil {
			fmt.Fprintf(a.stderr, "incremental: %d items copied from the base, %d fetched\n", res.Reused, res.Fetched)
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(a.stdout)
		return enc.Encode(map[string]any{
			"snapshot": where, "source": src.String(), "exportTime": atTime.UTC().Format(time.RFC3339Nano),
			"items": res.Items, "versionsListed": res.VersionsListed, "repeatsDropped": res.Repeats,
			"bytesWritten": res.BytesWritten, "dataFiles": res.DataFiles, "seconds": secs,
			"itemsPerSecond": float64(res.Items) / secs, "versionsListedPerSecond": float64(res.VersionsListed) / secs,
			"oldestVersion": fmtTime(res.OldestVersion), "getObjectRequests": res.Fetched, "reusedFromBase": res.Reused,
			"skippedObjects": res.BadObjects, "filteredOut": res.Filtered,
		})
	}
	return nil
}

// checkSnapshotOut refuses an --out in or over the backup folder of src:
// only the stream writer and backfill may write there, and a snapshot
// there would be read back as backup versions.
func checkSnapshotOut(src layout.Location, out string) error {
	if !layout.IsS3URL(out) {
		return nil
	}
	dst, err := layout.ParseS3URL(out)
	if err != nil {
		return usageError{fmt.Sprintf("--out: %v", err)}
	}
	if src.Contains(dst) || dst.Contains(src) {
		return usageError{fmt.Sprintf("--out %s overlaps the backup folder %s; nothing but the stream writer may write there", dst, src)}
	}
	if parent := src.Child(".."); parent.Prefix != "" && parent.Prefix != "." && parent.Contains(dst) {
		return usageError{fmt.Sprintf("--out %s is inside the backup prefix %s, where only the stream writer and backfill write", dst, parent)}
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}

// parseAt reads --at. The default is the last whole second before now:
// LastModified has whole-second precision, so a version stamped with the
// current second may have been written after the scan started.
func parseAt(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now.Truncate(time.Second).Add(-time.Second), nil
	}
	var t time.Time
	if d, err := time.ParseDuration(s); err == nil {
		if d > 0 {
			d = -d // "2h" means two hours ago, as "-2h" does
		}
		t = now.Add(d)
	} else if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
		return t, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-26T09:30:00Z) nor a duration ago (-2h)", s)
	}
	if t.After(now) {
		return t, fmt.Errorf("%s is in the future; a snapshot can only show the past", t.UTC().Format(time.RFC3339))
	}
	return t, nil
}
