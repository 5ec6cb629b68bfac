package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/status"
)

const statusExamples = `  # every table of the fleet, exit 3 if a writer is more than 30 minutes behind
  dynasnap status --backups s3://backups/dynasnap --max-lag 30m

  # for monitoring: all thresholds, as JSON
  dynasnap status --backups s3://backups/dynasnap --max-lag 30m --max-snapshot-age 26h --max-drill-age 192h --json

Columns (one line per table folder under --backups; docs/DESIGN.md §11 says what each costs):
  NEWEST CHANGE / LAG  when the newest change was stored, and how long ago: a journal's newest segment
                       (a listing of the last hour's segments, widened to a day, a week, all); per-item,
                       the newest of --item-pages pages of versions (half from the start, half sampled
                       over the id space when the folder is larger). "~": approximate (the
                       per-item listing stopped at its budget: a lower bound; a journal whose segments
                       are all compacted: the end of its newest window with changes, an upper bound).
                       An idle table's lag grows too.
  HORIZON              the oldest time the history answers exactly (the bucket's lifecycle rules; a
                       journal's first base if later); "-": unbounded.
  SNAPSHOT             the newest finished snapshot under --snapshots/TABLE/, and its age.
  DRILL, AUDIT         the newest results, --results/TABLE/drill.json and audit.json: ok or FAIL, and age.
  DEFINITION           when the table's definition was last recorded as changed.
  ENROLMENT            what the tag enroller (deploy/fleet.json) last made of it: enrolled, unavailable
                       (tagged but not backed up: always breaks), released (untagged or deleted, its
                       backup kept: held to no threshold); "-": not enrolled by tag.
  FAILURES             (above the table) the writer's failure queue depth, with --failure-queue.

Exit status: 0 every table within the thresholds; 3 a table breaks one (or could not be read: its
errors are listed); 1 an error; 2 bad flags.`

// statusBroken is status's exit code when a table breaks a threshold, as
// verify's for a difference.
const statusBroken = 3

func cmdStatus(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "status", "status --backups s3://BUCKET/PREFIX [flags]", statusExamples)
	backups := fs.String("backups", "", "the backup prefix s3://BUCKET/PREFIX: each folder under it is a table (required)")
	var locs status.Locations
	locs.AddFlags(fs)
	tables := fs.StringSlice("table", nil, "only these tables (repeat, or comma-separated; default: every folder)")
	itemPages := fs.Int("item-pages", status.DefaultItemPages, "per-item backups: list at most this many pages of 1,000 versions for the newest change (half from the start; for a larger folder, half sampled over the id space)")
	queue := fs.String("failure-queue", "", "the writer's failure queue (SQS URL, the stack's DLQ output): its depth is shown, and checked with --max-failures")
	var th status.Thresholds
	th.AddFlags(fs)
	a.opts.Add(fs)
	a.opts.AddJSON(fs)
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *backups == "" {
		return usageError{"--backups is required"}
	}
	if *itemPages < 1 || *itemPages > 10000 {
		return usageError{"--item-pages must be 1 to 10000"}
	}
	o := status.Options{Tables: *tables, ItemPages: *itemPages, Thresholds: th, Now: time.Now()}
	var err error
	if o.Backups, err = layout.ParseS3URL(*backups); err != nil {
		return usageError{fmt.Sprintf("--backups: %v", err)}
	}
	if o.Snapshots, o.Results, err = locs.Resolve(o.Backups); err != nil {
		return usageError{err.Error()}
	}
	clients, err := loadAWS(ctx, &awsOpts, 64)
	if err != nil {
		return err
	}
	s3c, err := clients.S3For(ctx, o.Backups.Bucket)
	if err != nil {
		return err
	}
	o.S3For = func(ctx context.Context, bucket string) (status.S3API, error) { return clients.S3For(ctx, bucket) }
	if *queue != "" {
		q := status.SQSQueue{URL: *queue, Config: clients.Config}
		o.FailureQueue = q.Depth
	}
	r, err := status.Run(ctx, s3c, o)
	if err != nil {
		return err
	}
	if a.opts.JSON {
		enc := a.out.JSONEncoder()
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		writeStatus(a.stdout, r)
	}
	if r.Broken > 0 {
		return exitError{statusBroken, fmt.Errorf("%d of %d tables break a threshold or could not be read", r.Broken, len(r.Tables))}
	}
	return nil
}

// writeStatus prints one line per table, then each table's breaks and
// errors.
func writeStatus(w io.Writer, r *status.Report) {
	fmt.Fprintf(w, "backups %s at %s\n", r.Backups, r.Now.Format(time.RFC3339))
	if q := r.Failures; q != nil {
		if q.Messages != nil {
			fmt.Fprintf(w, "failure queue: %d messages\n", *q.Messages)
		} else {
			fmt.Fprintf(w, "failure queue: unreadable (%s)\n", q.Error)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tLAYOUT\tENROLMENT\tNEWEST CHANGE\tLAG\tHORIZON\tSNAPSHOT\tDRILL\tAUDIT\tDEFINITION\tSTATUS")
	for _, t := range r.Tables {
		newest, lag := "-", "-"
		if t.NewestChange != nil {
			newest = stamp(*t.NewestChange)
			lag = age(*t.Lag)
			if !t.NewestExact {
				newest, lag = "~"+newest, "~"+lag
			}
		}
		horizon := "-"
		if t.Horizon != nil {
			horizon = stamp(*t.Horizon)
		}
		snap := "never"
		if t.SnapshotTime != nil {
			snap = stamp(*t.SnapshotTime) + " (" + age(*t.SnapshotAge) + ")"
		}
		def := "-"
		if t.Definition != nil {
			def = stamp(*t.Definition)
		}
		st := "ok"
		if t.Enrolment != nil && t.Enrolment.State == "released" {
			st = "released"
		}
		if n := len(t.Breaks) + len(t.Errors); n > 0 {
			st = "BREAKS"
			if len(t.Breaks) == 0 {
				st = "ERROR"
			}
		}
		enrolment := "-"
		if t.Enrolment != nil {
			enrolment = t.Enrolment.State
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Table, t.Layout, enrolment, newest, lag, horizon, snap, result(t.Drill), result(t.Audit), def, st)
	}
	tw.Flush()
	for _, t := range r.Tables {
		for _, b := range t.Breaks {
			fmt.Fprintf(w, "%s: %s\n", t.Table, b)
		}
		for _, e := range t.Errors {
			fmt.Fprintf(w, "%s: error: %s\n", t.Table, e)
		}
	}
	if len(r.Tables) == 0 {
		fmt.Fprintln(w, "no table folders")
	}
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func age(d status.Duration) string {
	x := time.Duration(d)
	if x < 0 {
		return "0s"
	}
	switch {
	case x >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(x/(24*time.Hour)))
	case x >= time.Hour:
		return strings.TrimSuffix(x.Truncate(time.Minute).String(), "0s")
	}
	return x.Truncate(time.Second).String()
}

func result(r *status.Result) string {
	if r == nil {
		return "never"
	}
	if r.Passed {
		return "ok (" + age(r.Age) + ")"
	}
	return "FAIL (" + age(r.Age) + ")"
}
