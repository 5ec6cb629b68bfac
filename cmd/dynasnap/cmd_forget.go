package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/forget"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/store"
)

const forgetExamples = `  # what a week of dailies, a month of weeklies and a year of monthlies would remove
  dynasnap forget --snapshots s3://exports/orders/hourly --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run

  # keep everything of the last two days, and the 24 newest
  dynasnap forget --snapshots ./snaps --keep-within 2d --keep-last 24 --json

Policy (restic's semantics, by each snapshot's exportTime in UTC; a snapshot matching any rule is kept):
  --keep-last N      the N newest snapshots
  --keep-hourly N    for the last N hours that have snapshots, the newest of each hour (-1: every hour)
  --keep-daily N     likewise per day; --keep-weekly per ISO week (Monday to Sunday), --keep-monthly,
                     --keep-yearly. When the snapshots run out with a count left, the oldest is kept too.
  --keep-within D    every snapshot within D of the newest: years, months, days, hours, as in 1y6m7d12h
                     (m is months)

Safety: the newest finished snapshot is never removed; a folder without manifest-summary.json written to
within --keep-unfinished is never touched (it may still be being written); a snapshot's
manifest-summary.json is deleted first, so one half deleted never reads as finished; snapshots are
grouped by the backup they were taken from; a folder holding backup objects, or inside the backup
prefix of a snapshot it holds, is refused.`

func cmdForget(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "forget", "forget --snapshots FOLDER --keep-... [flags]", forgetExamples)
	folder := fs.String("snapshots", "", "the folder of snapshots (local or s3://) (required)")
	var p forget.Policy
	fs.IntVar(&p.Last, "keep-last", 0, "keep the N newest snapshots")
	fs.IntVar(&p.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the last N hours that have one")
	fs.IntVar(&p.Daily, "keep-daily", 0, "keep the newest snapshot of each of the last N days that have one")
	fs.IntVar(&p.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of the last N weeks that have one")
	fs.IntVar(&p.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of the last N months that have one")
	fs.IntVar(&p.Yearly, "keep-yearly", 0, "keep the newest snapshot of each of the last N years that have one")
	within := fs.String("keep-within", "", "keep every snapshot within this of the newest: e.g. 7d, 1m (a month), 1y6m, 36h")
	keepUnfinished := fs.Duration("keep-unfinished", forget.DefaultKeepUnfinished, "leave a folder without manifest-summary.json alone until this long after its last write")
	dryRun := fs.Bool("dry-run", false, "remove nothing: list what would go, and why each kept snapshot is kept")
	a.opts.Add(fs)
	a.opts.AddJSON(fs)
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *folder == "" {
		return usageError{"--snapshots is required"}
	}
	var err error
	if p.Within, err = forget.ParseDuration(*within); err != nil {
		return usageError{fmt.Sprintf("--keep-within: %v", err)}
	}
	for _, n := range []int{p.Last, p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly} {
		if n < forget.Unlimited {
			return usageError{"--keep-* counts must be -1 (unlimited) or more"}
		}
	}
	if p.Empty() {
		return usageError{"give a policy: at least one of --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --keep-within"}
	}
	if *keepUnfinished < 0 {
		return usageError{"--keep-unfinished must not be negative"}
	}
	if !layout.IsS3URL(*folder) {
		if _, err := os.Stat(*folder); err != nil {
			return usageError{fmt.Sprintf("--snapshots: %v", err)}
		}
	}
	clients, err := loadAWS(ctx, &awsOpts, 64)
	if err != nil {
		return err
	}
	parent, err := store.Open(clients, *folder, store.Options{})
	if err != nil {
		return usageError{fmt.Sprintf("--snapshots: %v", err)}
	}
	rep, err := forget.Run(ctx, parent, forget.Options{Policy: p, KeepUnfinished: *keepUnfinished, DryRun: *dryRun, Now: time.Now(),
		Open: func(url string) (store.Store, error) { return store.Open(clients, url, store.Options{}) }})
	if rep != nil && !a.opts.Quiet {
		writeForget(a, rep)
	}
	if rep != nil && a.opts.JSON {
		enc := a.out.JSONEncoder()
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(rep); jerr != nil && err == nil {
			err = jerr
		}
	}
	return err
}

func writeForget(a *app, r *forget.Report) {
	w := a.stderr
	verb, would := "removed", ""
	if r.DryRun {
		verb, would = "would remove", " (dry run: nothing removed)"
	}
	fmt.Fprintf(w, "forget %s: %s%s\n", r.Folder, r.Policy, would)
	for _, e := range r.Keep {
		fmt.Fprintf(w, "  keep    %s  %s  (%s)\n", e.ExportTime.Format(time.RFC3339), e.Snapshot, strings.Join(e.Reasons, ", "))
	}
	for _, e := range r.UnfinishedKept {
		fmt.Fprintf(w, "  keep    %-20s  %s  (%s)\n", "unfinished", e.Snapshot, strings.Join(e.Reasons, ", "))
	}
	for _, e := range r.Remove {
		fmt.Fprintf(w, "  remove  %s  %s  (%d files)\n", e.ExportTime.Format(time.RFC3339), e.Snapshot, e.Files)
	}
	for _, e := range r.UnfinishedRemoved {
		fmt.Fprintf(w, "  remove  %-20s  %s  (%d files, unfinished, last written %s)\n", "unfinished", e.Snapshot, e.Files, e.LastWritten.Format(time.RFC3339))
	}
	for _, list := range [][]forget.Entry{r.Remove, r.UnfinishedRemoved} {
		for _, e := range list {
			for _, f := range e.KeptFiles {
				fmt.Fprintf(w, "  leave   %s  (not a snapshot's file: someone else put it there)\n", f)
			}
		}
	}
	fmt.Fprintf(w, "%d snapshots kept, %d %s, %d unfinished folders %s, %d left alone\n",
		len(r.Keep), len(r.Remove), verb, len(r.UnfinishedRemoved), verb, len(r.UnfinishedKept))
}
