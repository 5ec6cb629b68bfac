package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/backfill"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
)

func cmdBackfill(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "backfill", "backfill --table TABLE --dest s3://BUCKET/PREFIX [flags]",
		`  # Seed the backup of a table whose stream was turned on late
  dynasnap backfill --table Orders --dest s3://my-backups/dynamodb

  # Gently: at most 200 read capacity units a second, resumable after a crash
  dynasnap backfill --table Orders --dest s3://my-backups/dynamodb --read-rate 200 --checkpoint orders.backfill.json`)
	opts := backfill.Options{}
	var dest string
	fs.StringVar(&opts.Table, "table", "", "the DynamoDB table to copy (required)")
	fs.StringVar(&dest, "dest", "", "backup location s3://BUCKET/PREFIX, as the stream writer's DYNASNAP_BUCKET/DYNASNAP_PREFIX; items go to PREFIX/TABLE/ (required)")
	fs.IntVar(&opts.Segments, "segments", 8, "parallel Scan segments")
	fs.IntVar(&opts.Concurrency, "concurrency", 64, "S3 writes in flight")
	fs.Float64Var(&opts.ReadRate, "read-rate", 0, "cap on read capacity units consumed per second (0: no cap)")
	fs.Int32Var(&opts.PageSize, "page-size", 0, "items per Scan page (0: DynamoDB's 1 MB pages)")
	fs.StringVar(&opts.Checkpoint, "checkpoint", "", "file recording each segment's progress; rerun with the same file to resume")
	fs.BoolVar(&opts.Overwrite, "overwrite", false, "write items whose object already exists (default: keep the version the stream wrote)")
	layoutFlag := fs.String("layout", "auto", "items: one object per item; journal: a journal base (docs/DESIGN.md §10); auto: journal when the table folder holds a journal (journal/journal.json), else items")
	fs.DurationVar(&opts.JournalLag, "journal-lag", 0, "with --layout journal on a folder that holds no journal yet: the lag to record for it (default "+journal.DefaultLag.String()+"; the stream writer's DYNASNAP_JOURNAL_LAG should match)")
	a.opts.Add(fs)
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if opts.Table == "" || dest == "" {
		return usageError{"--table and --dest are required"}
	}
	if err := checkTableName("--table", opts.Table); err != nil {
		return err
	}
	if opts.Segments < 1 || opts.Segments > 1000000 || opts.Concurrency < 1 || opts.ReadRate < 0 || opts.PageSize < 0 {
		return usageError{"--segments and --concurrency must be positive, --read-rate and --page-size not negative"}
	}
	if *layoutFlag != "auto" && *layoutFlag != "items" && *layoutFlag != "journal" {
		return usageError{fmt.Sprintf("--layout %q: want items, journal or auto", *layoutFlag)}
	}
	loc, err := layout.ParseS3URL(dest)
	if err != nil {
		return usageError{err.Error()}
	}
	opts.Dest = loc
	clients, err := loadAWS(ctx, &awsOpts, opts.Concurrency+opts.Segments)
	if err != nil {
		return err
	}
	if !a.opts.Quiet {
		opts.Progress = func(s backfill.Stats) { a.term.SetStatus(fmt.Sprintf("backfill %s: %s", opts.Table, progressLine(s))) }
	}
	opts.Tool = "dynasnap " + version()
	opts.Scaling, opts.Lambda = clients.ApplicationAutoScaling(), clients.Lambda()
	s3c, err := clients.Source().S3For(ctx, opts.Dest.Bucket)
	if err != nil {
		return err
	}
	jb := &journal.S3Bucket{Client: s3c, Bucket: opts.Dest.Bucket}
	switch *layoutFlag {
	case "journal":
		opts.Journal = jb
	case "items":
	case "auto":
		tableDir := layout.TableLocation(loc.Bucket, loc.Prefix, opts.Table).Dir()
		switch _, err := journal.ReadDescriptor(ctx, jb, tableDir); {
		case err == nil:
			opts.Journal = jb
		case !errors.Is(err, journal.ErrNoJournal):
			return err
		}
	}
	st, err := backfill.Run(ctx, clients.DynamoDB(), s3c, opts)
	a.term.ClearStatus()
	if err != nil && st.Scanned == 0 && st.Written == 0 {
		// Stopped before it started (no table, no bucket): the counts
		// would only hide the reason.
		return fmt.Errorf("backfill %s: %w", opts.Table, err)
	}
	if err != nil {
		if opts.Checkpoint != "" {
			return fmt.Errorf("backfill %s (rerun with --checkpoint %s to resume): %s: %w", opts.Table, opts.Checkpoint, progressLine(st), err)
		}
		return fmt.Errorf("backfill %s: %s: %w", opts.Table, progressLine(st), err)
	}
	fmt.Fprintf(a.stdout, "backfilled %s into %s: %s\n", opts.Table, layout.TableLocation(loc.Bucket, loc.Prefix, opts.Table), progressLine(st))
	if !st.Base.IsZero() {
		fmt.Fprintf(a.stdout, "journal base at %s: %d items (exact from when the Scan ended)\n", st.Base.Format(time.RFC3339Nano), st.BaseItems)
	}
	fmt.Fprintf(a.stdout, "table definition: %s\n", st.Definition)
	return nil
}

func progressLine(s backfill.Stats) string {
	rate := 0.0
	if secs := s.Elapsed.Seconds(); secs > 0 {
		rate = float64(s.Scanned) / secs
	}
	of := ""
	if s.TableItems > 0 {
		of = fmt.Sprintf(" of ~%d", s.TableItems)
	}
	return fmt.Sprintf("%d items scanned%s, %d written, %d already backed up, %d/%d segments done, %.0f RCU, %.0f items/s, %s",
		s.Scanned, of, s.Written, s.Existing, s.SegmentsDone, s.Segments, s.Capacity, rate, s.Elapsed.Round(time.Second/10))
}
