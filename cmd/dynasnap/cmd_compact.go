package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/restore"
)

const compactExamples = `  # the scheduled job: segments into 1-minute and 1-hour files, a base every day
  dynasnap compact --source s3://backups/dynasnap/orders

  # a large table in 4 parallel jobs (the last shard to finish writes each output's manifest)
  dynasnap compact --source s3://backups/dynasnap/orders --shard 2/4

  # tiered retention: every change of 35 days, the last state of each hour for a year
  dynasnap compact --source s3://backups/dynasnap/orders --keep-exact 35d --keep-hourly 1y

  # move a per-item backup over (docs/JOURNAL.md, moving over): import, then again once the writers write segments
  dynasnap compact --source s3://backups/dynasnap/orders --from-items
  dynasnap compact --source s3://backups/journal/orders --from-items=mapbox --items s3://backups/mapbox/orders --key-schema pk:S`

// compactReport is compact --json (docs/JSON.md).
type compactReport struct {
	Source string `json:"source"`
	*journal.Report
	Seconds float64 `json:"seconds"`
}

func cmdCompact(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "compact", "compact --source s3://BUCKET/PREFIX/TABLE [flags]", compactExamples)
	source := fs.String("source", "", "the table's backup folder, holding a change journal: s3://BUCKET/PREFIX/TABLE (required)")
	var opts journal.CompactOptions
	opts.AddFlags(fs)
	var imp journal.FromItemsOptions
	imp.AddFlags(fs)
	shard := fs.String("shard", "", "compact one block of the key space: I/N (or auto/N in a Kubernetes Indexed Job or AWS Batch array job)")
	skew := fs.Duration("clock-skew", history.DefaultClockSkew, "how far the S3 server's clock may be ahead of this machine's: a window is compacted once it ended more than the journal's lag and this ago")
	a.opts.Add(fs)
	a.opts.AddJSON(fs)
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *source == "" {
		return usageError{"--source is required"}
	}
	src, err := history.ParseSource(*source)
	if err != nil {
		return usageError{err.Error()}
	}
	c := &journal.Compactor{Dir: src.Dir(), Skew: max(*skew, 0), Tool: "dynasnap " + version()}
	if err := opts.Apply(c); err != nil {
		return usageError{err.Error()}
	}
	if c.Shard, c.Shards, err = history.ParseShard(*shard); err != nil {
		return usageError{fmt.Sprintf("--shard %v", err)}
	}
	if c.Shards > 1 {
		if c.Lo, c.Hi, err = (history.Plan{Shard: c.Shard, Shards: c.Shards}).Interval(); err != nil {
			return usageError{fmt.Sprintf("--shard: %v", err)}
		}
	}
	c.Progress = func(format string, args ...any) { a.out.Printf("compact: "+format, args...) }
	schema, err := imp.Check()
	if err != nil {
		return usageError{err.Error()}
	}
	clients, err := loadAWS(ctx, &awsOpts, 64)
	if err != nil {
		return err
	}
	hs, err := s3source.NewIn(ctx, clients.Source(), src.Bucket)
	if err != nil {
		return err
	}
	defer hs.Close()
	if imp.Format != "" {
		return importItems(ctx, a, hs, src, imp, schema, c)
	}
	c.Bucket = hs.Journal()
	start := time.Now()
	rep, err := c.Run(ctx)
	if errors.Is(err, journal.ErrNoJournal) {
		return fmt.Errorf("%s holds no change journal (no %s): compact works on tables written with the journal layout (DYNASNAP_LAYOUT=journal, or backfill --layout journal)", src, journal.DescriptorName)
	}
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	if a.opts.JSON {
		if err := a.out.JSON(compactReport{Source: src.String(), Report: rep, Seconds: secs}); err != nil {
			return err
		}
	}
	{
		written := 0
		for _, o := range rep.Outputs {
			if o.Finished {
				written++
			}
		}
		a.out.Printf("compacted %s: %d outputs written (%d records from %d objects read), %d segments, %d outputs and %d bases deleted; changes up to %s need no segment; %.1fs",
			src, written, rep.RecordsRead, rep.ObjectsRead, rep.SegmentsDeleted, rep.OutputsDeleted, rep.BasesDeleted, rep.Covered.UTC().Format(time.RFC3339), secs)
	}
	return nil
}

// importItems is compact --from-items: a per-item backup into the journal
// (journal.FromItems, docs/DESIGN.md §10.14).
func importItems(ctx context.Context, a *app, hs *s3source.Source, src layout.Location, o journal.FromItemsOptions, schema keyschema.Schema, c *journal.Compactor) error {
	items := src
	if o.Items != "" {
		var err error
		if items, err = history.ParseSource(o.Items); err != nil {
			return usageError{"--items: " + err.Error()}
		}
		if items.Bucket != src.Bucket {
			return usageError{fmt.Sprintf("--items %s: the per-item backup must be in the journal's bucket (%s)", o.Items, src.Bucket)}
		}
	}
	if err := hs.Check(ctx); err != nil {
		return err
	}
	if schema.Hash.Name == "" {
		var err error
		if schema, err = restore.InferFromBackup(ctx, hs, items); err != nil {
			return fmt.Errorf("--from-items: the key schema of %s: %w (pass --key-schema)", items, err)
		}
	}
	f := &journal.FromItems{Bucket: hs.Journal(), Versions: hs, Dir: src.Dir(), ItemsDir: items.Dir(), Format: o.Format, Schema: schema,
		Lag: cmp.Or(o.JournalLag, journal.DefaultLag), Skew: c.Skew, Tool: c.Tool, PartBytes: c.PartBytes, Concurrency: 32, Progress: c.Progress}
	start := time.Now()
	rep, err := f.Run(ctx)
	if err != nil {
		return err
	}
	if a.opts.JSON {
		return a.out.JSON(struct {
			Source string `json:"source"`
			Items  string `json:"itemsFolder"`
			*journal.FromItemsReport
			Seconds float64 `json:"seconds"`
		}{src.String(), items.String(), rep, time.Since(start).Seconds()})
	}
	if rep.Phase == "close" {
		a.out.Printf("moved %s over: the item versions of (%s, %s] are in the journal (%d versions, %d deletes); compact runs as usual from now on",
			items, rep.Cut.Format(time.RFC3339), rep.WindowTo.Format(time.RFC3339), rep.Versions, rep.Deletes)
		return nil
	}
	a.out.Printf("imported %s into the journal %s up to %s: %d versions, %d deletes, %d items at the cut (%d shards resumed); readers and writers use the journal now. Run the same command again once every writer writes segments (a minute), to fold in the versions stored since",
		items, src, rep.Cut.Format(time.RFC3339), rep.Versions, rep.Deletes, rep.Items, rep.ShardsResumed)
	return nil
}
