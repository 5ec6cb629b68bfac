package main

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/diff"
	"github.com/dynasnap/dynasnap/internal/filter"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/restore"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

const diffExamples = `  # what changed in the last hour, as incremental-export JSON lines
  dynasnap diff --source s3://backups/dynasnap/orders --from -1h --to -0s > changes.jsonl

  # the same window as an incremental export, laid out as AWS's: DEST/AWSDynamoDB/<exportId>/...;
  # restore --changes applies it to a table restored from the snapshot at --from
  dynasnap diff --source s3://backups/dynasnap/orders --from 2026-11-26T09:00:00Z --to 2026-11-26T10:00:00Z \
      --out s3://exports/orders-changes/0900 --view NEW_AND_OLD_IMAGES

  # between two exact times
  dynasnap diff --source s3://backups/dynasnap/orders --from 2026-11-26T09:00:00Z --to 2026-11-26T09:30:00Z

  # one tenant's changes only: those whose old or new image matches (an item moved away still shows)
  dynasnap diff --source s3://backups/dynasnap/orders --from -24h --where 'item.tenant == "acme"'
  dynasnap diff --source s3://backups/dynasnap/orders --from -24h --key-schema pk:S --key-prefix 'acme#'`

func cmdDiff(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "diff", "diff --source s3://BUCKET/PREFIX/TABLE --from T1 [--to T2] [--out DEST] [flags]", diffExamples)
	source := fs.String("source", "", "the table's backup folder s3://BUCKET/PREFIX/TABLE (required)")
	from := fs.String("from", "", "the window's start, inclusive: RFC 3339 or a duration ago (-2h) (required)")
	to := fs.String("to", "", "the window's end, exclusive (default: the second in which the command starts; it waits for that second to end)")
	outDir := fs.String("out", "", "write an incremental export, laid out as AWS's, under DEST/AWSDynamoDB/<exportId>/ (a local path or s3://bucket/prefix) instead of lines on stdout")
	view := fs.String("view", diff.NewAndOldImages, "NEW_AND_OLD_IMAGES or NEW_IMAGE (no OldImage)")
	sse := fs.String("sse", "", "with an s3:// --out: server-side encryption, AES256 or aws:kms")
	kmsKey := fs.String("sse-kms-key-id", "", "KMS key for --sse aws:kms")
	var timeOpts history.TimeOptions
	timeOpts.AddFlags(fs)
	keySchema := fs.String("key-schema", "", "the key attributes for Keys, HASH:TYPE[,RANGE:TYPE] (default: inferred from each item and its object id)")
	var planOpts history.PlanOptions
	planOpts.AddFlags(fs, "fetchers", 128)
	var sel filter.Options
	sel.AddFlags(fs, "list only changes whose old or new image is an item")
	a.opts.Add(fs)
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *source == "" || *from == "" {
		return usageError{"--source and --from are required"}
	}
	src, err := history.ParseSource(*source)
	if err != nil {
		return usageError{err.Error()}
	}
	now := time.Now()
	t1, err := history.Resolve(*from, now)
	if err != nil {
		return usageError{fmt.Sprintf("--from: %v", err)}
	}
	t2, err := history.Resolve(*to, now)
	if err != nil {
		return usageError{fmt.Sprintf("--to: %v", err)}
	}
	if !t1.Before(t2) {
		return usageError{fmt.Sprintf("--from %s must be before --to %s", t1.UTC().Format(time.RFC3339), t2.UTC().Format(time.RFC3339))}
	}
	if err := sel.Check(); err != nil {
		return usageError{err.Error()}
	}
	if *view != diff.NewAndOldImages && *view != diff.NewImage {
		return usageError{fmt.Sprintf("--view %q: want %s or %s", *view, diff.NewAndOldImages, diff.NewImage)}
	}
	if *outDir != "" {
		if err := snapshot.CheckOut(src, *outDir); err != nil {
			return usageError{fmt.Sprintf("--out %v", err)}
		}
	}
	if (*sse != "" || *kmsKey != "") && !layout.IsS3URL(*outDir) {
		return usageError{"--sse and --sse-kms-key-id apply to s3:// outputs only"}
	}
	plan, err := planOpts.Plan()
	if err != nil {
		return usageError{err.Error()}
	}
	opts := diff.Options{Source: src, From: t1, To: t2, ClockSkew: timeOpts.Skew(), Plan: plan, Fetchers: planOpts.Fetchers, View: *view}
	if opts.Schema, err = keySchemaFlag(*keySchema); err != nil {
		return err
	}
	clients, err := loadAWS(ctx, &awsOpts, planOpts.Fetchers+plan.ListConcurrency+8)
	if err != nil {
		return err
	}
	hs, _, err := openSource(ctx, clients, a.out, &timeOpts, src, history.At{Flag: "--from", T: t1}, history.At{Flag: "--to", T: t2})
	if err != nil {
		return err
	}
	defer hs.Close()
	// A bare --key-prefix needs the partition key: --key-schema names it,
	// else the backup's first item shows it (when it has one key attribute).
	var desc string
	opts.Filter, desc, err = sel.Build(func() (string, error) {
		if opts.Schema != nil {
			return opts.Schema.Hash.Name, nil
		}
		ks, err := restore.InferFromBackup(ctx, hs, src)
		return ks.Hash.Name, err
	})
	if err != nil {
		return err
	}
	listed := &progress.Counter{Name: "versions listed"}
	opts.Listed = listed
	rep := progress.New(a.term, a.opts.Quiet, listed)
	rep.Start(ctx)
	var st *diff.Stats
	where := ""
	if *outDir != "" {
		var dest store.Store
		if dest, err = store.Open(clients, *outDir, store.Options{SSE: *sse, SSEKMSKeyID: *kmsKey}); err != nil {
			rep.Stop()
			return usageError{err.Error()}
		}
		dest, _ = store.Sub(dest, snapshot.AWSDir+"/"+diff.ExportID(src.String(), t1, t2, desc))
		where = dest.URL("")
		st, _, err = diff.Export(ctx, hs, dest, opts, diff.ExportOptions{Tool: "dynasnap " + version(), FilterText: desc, SSE: *sse, SSEKMSKey: *kmsKey})
		rep.Stop()
	} else {
		out := bufio.NewWriterSize(a.stdout, 1<<20)
		st, err = diff.Run(ctx, hs, out, opts)
		rep.Stop()
		if ferr := out.Flush(); err == nil && ferr != nil {
			err = fmt.Errorf("write diff: %w", ferr)
		}
	}
	if err != nil {
		return err
	}
	filtered := ""
	if opts.Filter != nil {
		filtered = fmt.Sprintf("; %d changes filtered out", st.Filtered)
	}
	a.out.Printf("diff of %s over [%s, %s): %d inserted, %d modified, %d removed, %d expired (removed by TTL), of %d keys (%d rewritten unchanged, not listed%s)",
		src, t1.UTC().Format(time.RFC3339Nano), t2.UTC().Format(time.RFC3339Nano), st.Inserted, st.Modified, st.Removed, st.Expired, st.Keys, st.Rewritten, filtered)
	if where != "" {
		a.out.Printf("incremental export of %d changes -> %s", st.Lines, where)
	}
	return nil
}
