package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/filter"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/restore"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

const snapshotExamples = `  # the table as it was two hours ago, as gzipped JSON lines in a local folder
  dynasnap snapshot --source s3://backups/dynasnap/orders --at -2h --out ./orders-snap

  # at an exact time, into S3, encrypted with a KMS key, one data file
  dynasnap snapshot --source s3://backups/dynasnap/orders --at 2026-11-26T09:30:00Z \
      --out s3://exports/orders/2026-11-26T0930 --single-file --sse aws:kms --sse-kms-key-id alias/exports

  # laid out exactly as AWS's Export to S3: ./exports/AWSDynamoDB/<exportId>/manifest-summary.json, ...
  dynasnap snapshot --source s3://backups/dynasnap/orders --at -1h --out ./exports --layout aws

  # Parquet for Athena, typed as the table schema file says; then the DDL
  dynasnap snapshot --source s3://backups/dynasnap/orders --format parquet --schema schemas/examples/orders.json \
      --out s3://analytics/orders/2026-11-26
  dynasnap athena-ddl s3://analytics/orders/2026-11-26 --table-name orders_20261126`

// snapshotReport is snapshot --json (docs/JSON.md).
type snapshotReport struct {
	Snapshot                string              `json:"snapshot"`
	Source                  string              `json:"source"`
	ExportTime              string              `json:"exportTime"`
	Items                   int64               `json:"items"`
	VersionsListed          int64               `json:"versionsListed"`
	VersionsAfterExportTime int64               `json:"versionsAfterExportTime"`
	RepeatsDropped          int64               `json:"repeatsDropped"`
	ListRequests            int64               `json:"listRequests"`
	PrefixesListed          int64               `json:"prefixesListed"`
	Ranges                  int                 `json:"ranges"`
	BytesWritten            int64               `json:"bytesWritten"`
	DataFiles               int                 `json:"dataFiles"`
	Seconds                 float64             `json:"seconds"`
	ItemsPerSecond          float64             `json:"itemsPerSecond"`
	VersionsListedPerSecond float64             `json:"versionsListedPerSecond"`
	OldestVersion           string              `json:"oldestVersion"`
	GetObjectRequests       int64               `json:"getObjectRequests"`
	ReusedFromBase          int64               `json:"reusedFromBase"`
	SkippedObjects          []history.BadObject `json:"skippedObjects"`
	FilteredOut             int64               `json:"filteredOut"`
	Shard                   *int                `json:"shard,omitempty"`
	Shards                  int                 `json:"shards,omitempty"`
	HistoryWarnings         []string            `json:"historyWarnings,omitempty"`
	// A journal's (docs/DESIGN.md §10): objects read, and changes stored
	// too late to count at exportTime.
	JournalObjects int64 `json:"journalObjects"`
	LateChanges    int64 `json:"lateChanges"`
	// CopiedFrom is the journal base whose export files were copied
	// (docs/DESIGN.md §10.6).
	CopiedFrom string `json:"copiedFrom,omitempty"`
}

func cmdSnapshot(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 && args[0] == "commit" {
		return cmdSnapshotCommit(ctx, a, args[1:])
	}
	fs := newFlags(a, "snapshot", "snapshot --source s3://BUCKET/PREFIX/TABLE --out DEST [--at TIME] [flags]", snapshotExamples)
	source := fs.String("source", "", "the table's backup folder: s3://BUCKET/PREFIX/TABLE (required)")
	at := fs.String("at", "", "point in time: RFC 3339 (2026-11-26T09:30:00Z) or a duration ago (-2h, -90m); default: the second in which the command starts (it waits for that second to end, so everything written before the command is in)")
	var timeOpts history.TimeOptions
	timeOpts.AddFlags(fs)
	out := fs.String("out", "", "the snapshot's own folder: a local path or s3://bucket/prefix; must not hold a snapshot already (required)")
	var outOpts snapshot.OutputOptions
	outOpts.AddFlags(fs)
	layoutFlag := fs.String("layout", "dynasnap", "dynasnap: the export's files right in --out; aws: under OUT/AWSDynamoDB/<exportId>/, exactly where AWS's Export to S3 puts them")
	var planOpts history.PlanOptions
	planOpts.AddFlags(fs, "concurrency", 256)
	base := fs.String("base", "", "an earlier snapshot of the same source (local or s3://): unchanged items are copied from it instead of fetched")
	var sel filter.Options
	sel.AddFlags(fs, "keep only items")
	skipBad := fs.Bool("skip-bad-objects", false, "skip versions that are not readable DynamoDB items (corrupt, empty, over 400 KB, archived) and list them in the summary, instead of stopping")
	a.opts.Add(fs)
	a.opts.AddJSON(fs)
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *source == "" || *out == "" {
		return usageError{"--source and --out are required"}
	}
	if *layoutFlag != "dynasnap" && *layoutFlag != "aws" {
		return usageError{fmt.Sprintf("--layout %q: want dynasnap or aws", *layoutFlag)}
	}
	src, err := history.ParseSource(*source)
	if err != nil {
		return usageError{err.Error()}
	}
	atTime, err := history.Resolve(*at, time.Now())
	if err != nil {
		return usageError{fmt.Sprintf("--at: %v", err)}
	}
	if err := snapshot.CheckOut(src, *out); err != nil {
		return usageError{fmt.Sprintf("--out %v", err)}
	}
	runOpts := snapshot.Options{Source: src, At: atTime, ClockSkew: timeOpts.Skew(), Tool: "dynasnap " + version()}
	if err := outOpts.Apply(*out, &runOpts); err != nil {
		return usageError{err.Error()}
	}
	if err := sel.Check(); err != nil {
		return usageError{err.Error()}
	}
	plan, err := planOpts.Plan()
	if err != nil {
		return usageError{err.Error()}
	}
	if plan.Shards > 0 && (*at == "" || !strings.Contains(*at, "T")) {
		return usageError{"--shard needs an absolute --at (RFC 3339), the same for every shard"}
	}
	clients, err := loadAWS(ctx, &awsOpts, planOpts.Fetchers+planOpts.ListConcurrency+8)
	if err != nil {
		return err
	}
	dest, err := store.Open(clients, *out, store.Options{SSE: outOpts.SSE, SSEKMSKeyID: outOpts.SSEKMSKeyID})
	if err != nil {
		return usageError{err.Error()}
	}
	var baseSnap *snapshot.Snapshot
	if *base != "" {
		bst, err := store.Open(clients.Source(), *base, store.Options{})
		if err != nil {
			return usageError{fmt.Sprintf("--base: %v", err)}
		}
		if baseSnap, err = snapshot.Open(ctx, bst); err != nil {
			return fmt.Errorf("--base: %w", err)
		}
	}
	hs, err := s3source.NewIn(ctx, clients.Source(), src.Bucket)
	if err != nil {
		return err
	}
	defer hs.Close()
	journalWait(a.out, hs, &timeOpts)
	// The source's checks go beside the first listing pages (snapshot
	// writes nothing before they pass): their warnings come while the
	// progress line is up, and the terminal keeps the two apart.
	var historyWarnings []string
	runOpts.Preflight = func(ctx context.Context) error {
		var err error
		historyWarnings, err = checkSource(ctx, a.out, &timeOpts, hs, src, history.At{Flag: "--at", T: atTime})
		return err
	}
	match, desc, err := sel.Build(func() (string, error) {
		ks, err := restore.InferFromBackup(ctx, hs, src)
		return ks.Hash.Name, err
	})
	if err != nil {
		return err
	}
	if *layoutFlag == "aws" {
		// The id follows from what the snapshot holds, so every shard of a
		// run, and a rerun after a crash, writes into the same folder.
		dest, _ = store.Sub(dest, snapshot.AWSDir+"/"+snapshot.ExportID(atTime, src.String(), desc))
	}
	listed := &progress.Counter{Name: "versions listed"}
	fetched := &progress.Counter{Name: "items fetched"}
	written := &progress.Counter{Name: "written", Unit: "bytes"}
	rep := progress.New(a.term, a.opts.Quiet, listed, fetched, written)
	a.out.Verbosef("listing %s at %s: %d ranges, %d listings and %d fetches at most at once", src, atTime.UTC().Format(time.RFC3339Nano),
		plan.Ranges, plan.ListConcurrency, planOpts.Fetchers)
	rep.Start(ctx)
	runOpts.Concurrency, runOpts.ListConcurrency, runOpts.Ranges, runOpts.MaxKeys = planOpts.Fetchers, plan.ListConcurrency, plan.Ranges, plan.PageSize
	runOpts.Base, runOpts.Shard, runOpts.Shards = baseSnap, plan.Shard, plan.Shards
	runOpts.SkipBadObjects, runOpts.Filter, runOpts.FilterText = *skipBad, match, desc
	runOpts.Listed, runOpts.Fetched, runOpts.Written = listed, fetched, written
	res, err := snapshot.Run(ctx, hs, dest, runOpts)
	rep.Stop()
	if err != nil {
		return err
	}
	secs := res.Elapsed.Seconds()
	where := dest.URL("")
	if !layout.IsS3URL(*out) {
		where, _ = filepath.Abs(where)
	}
	stamp := atTime.UTC().Format(time.RFC3339Nano)
	p := a.out
	if res.Items == 0 && (res.OldestVersion.IsZero() || atTime.Before(res.OldestVersion)) {
		p.Warnf("%s has no version at or before %s (oldest: %s); the snapshot is empty",
			src, atTime.UTC().Format(time.RFC3339), history.FormatTime(res.OldestVersion))
	}
	if res.Late > 0 {
		p.Warnf("%d changes made by %s were stored later than the journal's lag allows and are left out of it: they count from their store time less the lag (docs/JOURNAL.md)",
			res.Late, atTime.UTC().Format(time.RFC3339))
	}
	if res.ReadyDamaged != nil {
		p.Warnf("the journal base's export files are damaged, so the snapshot read the base instead: %v", res.ReadyDamaged)
	}
	for _, b := range res.BadObjects {
		p.Warnf("skipped bad object s3://%s/%s version %s: %s", src.Bucket, b.Key, b.VersionID, b.Reason)
	}
	if plan.Shards > 0 {
		p.Printf("shard %d/%d of %s at %s: %d items in %.1fs; run 'dynasnap snapshot commit --out %s' when all shards are done",
			plan.Shard, plan.Shards, src, stamp, res.Items, secs, dest.URL(""))
	} else {
		if res.CopiedFrom != "" {
			p.Printf("snapshot of %s at %s: %d items copied from the journal base's export files in %s (checked against their digests) in %.1fs, %d data files, %.1f MB -> %s",
				src, stamp, res.Items, res.CopiedFrom, secs, res.DataFiles, float64(res.BytesWritten)/1e6, where)
		} else {
			p.Printf("snapshot of %s at %s: %d items from %d versions (%d newer than %s, left out) in %.1fs (%.0f items/s), %d data files, %.1f MB -> %s",
				src, stamp, res.Items, res.VersionsListed, res.VersionsNewer, stamp, secs, float64(res.Items)/secs,
				res.DataFiles, float64(res.BytesWritten)/1e6, where)
		}
		if d := res.Definition; d != nil && d.Def != nil {
			p.Printf("table definition: the version of %s (%s), in %s",
				d.From.LastModified.UTC().Format(time.RFC3339), d.From.VersionID, snapshot.DefinitionName)
		} else if d != nil {
			p.Printf("no table definition in the snapshot: %s", d.Missing(src, atTime))
		}
		if m := runOpts.Parquet.Misses; m != nil && m.Load() > 0 {
			p.Printf("parquet: %d values did not fit their column's type and are NULL there (whole in the item column); see %s",
				m.Load(), snapshot.SchemaName)
		}
		if baseSnap != nil {
			p.Printf("incremental: %d items copied from the base, %d fetched", res.Reused, res.Fetched)
		}
	}
	if !a.opts.JSON {
		return nil
	}
	r := snapshotReport{Snapshot: where, Source: src.String(), ExportTime: stamp,
		Items: res.Items, VersionsListed: res.VersionsListed, VersionsAfterExportTime: res.VersionsNewer, RepeatsDropped: res.Repeats,
		ListRequests: res.ListRequests, PrefixesListed: res.Prefixes, Ranges: plan.Ranges,
		BytesWritten: res.BytesWritten, DataFiles: res.DataFiles, Seconds: secs,
		ItemsPerSecond: float64(res.Items) / secs, VersionsListedPerSecond: float64(res.VersionsListed) / secs,
		OldestVersion: history.FormatTime(res.OldestVersion), GetObjectRequests: res.Fetched, ReusedFromBase: res.Reused,
		SkippedObjects: res.BadObjects, FilteredOut: res.Filtered, HistoryWarnings: historyWarnings,
		JournalObjects: res.JournalObjects, LateChanges: res.Late, CopiedFrom: res.CopiedFrom}
	if r.SkippedObjects == nil {
		r.SkippedObjects = []history.BadObject{}
	}
	if plan.Shards > 0 {
		r.Shard, r.Shards = &plan.Shard, plan.Shards
	}
	return a.out.JSON(r)
}
