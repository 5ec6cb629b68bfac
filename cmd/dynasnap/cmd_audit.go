package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/audit"
	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/status"
)

const auditExamples = `  # is the backup complete? the live table against its backup, item by item
  dynasnap audit --source s3://backups/dynasnap/orders --table orders

  # scheduled: a tenth of the key space, at most 200 read units a second, JSON for monitoring
  dynasnap audit --source s3://backups/dynasnap/orders --table orders --sample 10 --read-units 200 --json

What it does: a parallel consistent Scan of --table (--segments; --sample scans that share of the
segments, chosen at random) compared item by item with the backup's history under --source.
An item read at time t matches when it equals the backup's state of its key at some moment
between the scan's start minus --clock-skew and now; a key the backup holds that the scan did
not return matches when the backup says it was absent at some such moment. A key that does not
match is read again (a consistent GetItem) and, --writer-lag later, its history again: it is
drift only when neither the scanned item nor the one read again is among the backup's states.
Items written during the scan are therefore not drift.

Drift: missing (in the table, not in the backup), different (in both, never equal), extra (in
the backup, not in the table), each with its key and the newest backup time for it.

A line on stderr for a log-based alarm, printed even with --quiet:
  dynasnap audit: OK table=T source=S scanned=N sample=P
  dynasnap audit: DRIFT table=T source=S missing=N different=N extra=N scanned=N sample=P

Exit status: 0 no drift; 3 drift; 1 an error; 2 bad flags; 130 interrupted.`

// auditDrift is audit's exit status when the backup drifted from the table.
const auditDrift = 3

func cmdAudit(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "audit", "audit --source s3://BUCKET/PREFIX/TABLE --table LIVE [flags]", auditExamples)
	source := fs.String("source", "", "the table's backup folder, s3://BUCKET/PREFIX/TABLE (required)")
	table := fs.String("table", "", "the live DynamoDB table (required)")
	segments := fs.Int("segments", 8, "the parallel Scan's segments (TotalSegments)")
	readUnits := fs.Float64("read-units", 0, "cap the read capacity units the audit consumes a second, Scan and GetItem together (0: no cap)")
	sample := fs.Float64("sample", 100, "audit this percentage of the key space: that share of the --segments, chosen at random")
	writerLag := fs.Duration("writer-lag", 10*time.Second, "how long the stream writer may take to store a change: a key that does not match is read from the backup again this long after the table (a journal's lagSeconds, if longer, is used)")
	examples := fs.Int("examples", 20, "drifted keys listed in the text output (--json lists all)")
	reportOut := fs.String("report-out", "", "also write the result (the --json report with passed, failures and startTime) to this file or s3://BUCKET/KEY, whatever the outcome: where dynasnap status reads a table's newest audit (s3://BUCKET/PREFIX"+status.ResultsSuffix+"/TABLE/"+status.AuditResult+")")
	var plan history.PlanOptions
	plan.AddFlags(fs, "concurrency", 128)
	var topts history.TimeOptions
	topts.AddFlags(fs)
	a.opts.Add(fs)
	a.opts.AddJSON(fs)
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *source == "" || *table == "" {
		return usageError{"--source and --table are required"}
	}
	src, err := history.ParseSource(*source)
	if err != nil {
		return usageError{err.Error()}
	}
	switch {
	case *segments < 1 || *segments > 1000000:
		return usageError{"--segments must be between 1 and 1,000,000"}
	case *sample <= 0 || *sample > 100:
		return usageError{"--sample must be a percentage above 0 and at most 100"}
	case *readUnits < 0:
		return usageError{"--read-units must not be negative"}
	case *writerLag < 0:
		return usageError{"--writer-lag must not be negative"}
	case *examples < 0:
		return usageError{"--examples must not be negative"}
	}
	p, err := plan.Plan()
	if err != nil {
		return usageError{err.Error()}
	}
	if err := checkReportOut(*reportOut); err != nil {
		return err
	}
	if p.Shards > 1 {
		return usageError{"--shard does not go with audit: the scan covers the whole table (use --sample for a share)"}
	}
	if err := checkTableName("--table", *table); err != nil {
		return err
	}
	clients, err := loadAWS(ctx, &awsOpts, *segments+plan.Fetchers+plan.ListConcurrency+32)
	if err != nil {
		return err
	}
	start := time.Now()
	hs, _, err := openSource(ctx, clients, a.out, &topts, src, history.At{Flag: "the audit's window start", T: start.Add(-history.Skew(topts.Skew()))})
	if err != nil {
		return err
	}
	defer hs.Close()
	// The first walk reads what is stored now: a key it finds wrong is
	// read again after the writer's lag (at least the journal's), so
	// waiting out the lag first would only delay the answer.
	hs.ReadJournalStored()
	lag := *writerLag
	d, err := journal.ReadDescriptor(ctx, hs.Journal(), src.Dir())
	switch {
	case err == nil:
		lag = max(lag, d.Lag())
	case !errors.Is(err, journal.ErrNoJournal):
		return err
	}
	ddb := clients.DynamoDB()
	ks, err := keyschema.FromTable(ctx, ddb, *table)
	if err != nil {
		return err
	}
	scanned := &progress.Counter{Name: "table items scanned"}
	listed := &progress.Counter{Name: "backup versions listed"}
	fetched := &progress.Counter{Name: "backup versions read"}
	rep := progress.New(a.term, a.opts.Quiet, scanned, listed, fetched)
	rep.Start(ctx)
	r, err := audit.Run(ctx, hs, ddb, audit.Options{Table: *table, Schema: ks, Source: src, Segments: *segments,
		SamplePercent: *sample, ReadUnits: *readUnits, ClockSkew: topts.Skew(), WriterLag: lag, Plan: p,
		Fetchers: plan.Fetchers, Scanned: scanned, Listed: listed, Fetched: fetched})
	rep.Stop()
	if *reportOut != "" {
		if werr := writeReportOut(ctx, clients, *reportOut, newAuditResult(start, r, err)); werr != nil {
			a.out.Errorf("audit: %v", werr)
			if err == nil {
				err = werr
			}
		}
	}
	if err != nil {
		return err
	}
	if a.opts.JSON {
		if err := a.out.JSON(r); err != nil {
			return err
		}
	} else if !a.opts.Quiet {
		printAudit(a, r, *examples)
	}
	line := fmt.Sprintf("table=%s source=%s scanned=%d sample=%g", r.Table, r.Source, r.ItemsScanned, r.SamplePercent)
	if r.Drifted() {
		// main prints it as "dynasnap audit: DRIFT ...", the alarm's line.
		return exitError{auditDrift, fmt.Errorf("DRIFT table=%s source=%s missing=%d different=%d extra=%d scanned=%d sample=%g",
			r.Table, r.Source, r.Missing, r.Different, r.Extra, r.ItemsScanned, r.SamplePercent)}
	}
	a.out.Errorf("dynasnap audit: OK %s", line)
	return nil
}

func printAudit(a *app, r *audit.Report, examples int) {
	w := a.stdout
	fmt.Fprintf(w, "table %s: %d items scanned (%d of %d segments, %g%%), %.1f read units\n", r.Table, r.ItemsScanned,
		len(r.ScannedSegments), r.Segments, r.SamplePercent, r.ReadUnits)
	fmt.Fprintf(w, "backup %s: %d keys, read over [%s, now]; %d keys read again\n", r.Source, r.BackupKeys,
		r.WindowStart.Format(time.RFC3339), r.Rechecked)
	fmt.Fprintf(w, "missing %d, different %d, extra %d (%.1fs, %.0f items/s)\n", r.Missing, r.Different, r.Extra, r.Seconds, r.ItemsPerSecond)
	for i, d := range r.Drift {
		if i == examples {
			fmt.Fprintf(w, "  ... %d more (--json lists all)\n", len(r.Drift)-examples)
			break
		}
		newest := "none"
		if d.NewestBackupTime != nil {
			newest = d.NewestBackupTime.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "  %-9s %s  newest backup %s\n", d.Kind, strings.TrimSpace(string(d.Key)), newest)
	}
}

// auditResult is what --report-out writes: the report with the members
// every job result has (schemas/job-result.schema.json), so dynasnap
// status reads an audit as it reads a drill.
type auditResult struct {
	Passed    bool      `json:"passed"`
	Failures  []string  `json:"failures"`
	StartTime time.Time `json:"startTime"`
	*audit.Report
}

func newAuditResult(start time.Time, r *audit.Report, err error) auditResult {
	res := auditResult{StartTime: start.UTC(), Failures: []string{}, Report: r}
	switch {
	case err != nil:
		res.Failures = append(res.Failures, err.Error())
	case r.Drifted():
		res.Failures = append(res.Failures, fmt.Sprintf("drift: missing=%d different=%d extra=%d", r.Missing, r.Different, r.Extra))
	}
	res.Passed = len(res.Failures) == 0
	return res
}
