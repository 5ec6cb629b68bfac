package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/drill"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/status"
	"github.com/dynasnap/dynasnap/internal/store"
)

const drillExamples = `  # the newest finished snapshot under a folder of snapshots, with budgets, for monitoring
  dynasnap drill --snapshots s3://exports/orders/hourly --max-rpo 30m --max-rto 15m --json

  # one given snapshot
  dynasnap drill --snapshot s3://exports/orders/hourly/2026-11-26T0905

  # take a snapshot now (kept under --snapshots, or in a temporary folder removed afterwards), then drill it
  dynasnap drill --source s3://backups/dynasnap/orders --snapshots s3://exports/orders/drills

  # keep the scratch table after a failure, to look at it
  dynasnap drill --snapshots ./snaps --keep-table

Which snapshot:
  --snapshots FOLDER  the newest finished snapshot (one with manifest-summary.json, newest by its
                      exportTime) in any folder below FOLDER; unfinished ones are never used.
                      FOLDER should hold the snapshots of one table.
  --snapshot SNAP     that snapshot.
  --source BACKUP     take a snapshot of the backup now, into --out (default: a folder
                      drill-<time> under --snapshots, else a temporary folder), and drill it.

What it does: creates a scratch table <--table-prefix>-<yyyymmddThhmmss>-<random> (on-demand, the
snapshot's key), restores the snapshot into it, verifies it against the snapshot, and deletes it,
also after a failure or an interrupt (Ctrl-C, SIGTERM), waiting until it is gone.

What it measures:
  recovery point  now minus the newest backup version the snapshot holds: what restoring it now
                  would lose. It is the data lag (snapshot time minus that version) plus the
                  snapshot age (now minus snapshot time). On a table idle for longer than the
                  budget it grows although nothing is lost: set --max-rpo above the longest quiet time.
  recovery time   creating the table plus the restore (items/s shown); verify is timed apart.

Exit status: 0 passed; 1 an error (snapshot unreadable, restore failed, or the scratch table could
not be deleted: its name is printed); 2 bad flags; 3 the restored table differs from the snapshot;
4 the recovery point or time is over its budget; 130 interrupted (the table is still deleted).`

// drillOverBudget is drill's exit status when --max-rpo or --max-rto is
// exceeded; 3 (a difference) is verify's, and wins when both happen.
const drillOverBudget = 4

func cmdDrill(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "drill", "drill (--snapshots FOLDER | --snapshot SNAP | --source s3://BUCKET/PREFIX/TABLE) [flags]", drillExamples)
	snapshots := fs.String("snapshots", "", "a folder of snapshots (local or s3://): drill the newest finished one; with --source, where the new snapshot goes")
	snap := fs.String("snapshot", "", "drill this snapshot (local or s3://)")
	source := fs.String("source", "", "take a snapshot of this backup folder s3://BUCKET/PREFIX/TABLE now, and drill it")
	out := fs.String("out", "", "with --source: the new snapshot's folder (default: drill-<time> under --snapshots, else a temporary folder removed afterwards)")
	prefix := fs.String("table-prefix", drill.DefaultTablePrefix, "the scratch table's name starts with this")
	keySchema := fs.String("key-schema", "", "for a snapshot without a table definition: the scratch table's key as HASH:TYPE[,RANGE:TYPE], e.g. pk:S,sk:N (default: inferred from the items; needed when the items have two key attributes)")
	var tdf tableDefFlags
	tdf.addFlags(fs)
	maxRPO := fs.Duration("max-rpo", 0, "fail (exit 4) if the recovery point is longer than this, e.g. 30m (0: no budget)")
	maxRTO := fs.Duration("max-rto", 0, "fail (exit 4) if the recovery time (create table + restore) is longer than this, e.g. 15m (0: no budget)")
	workers := fs.Int("workers", 32, "BatchWriteItem requests in flight")
	maxWCU := fs.Float64("max-wcu", 0, "cap the restore's write rate at this many write capacity units a second (0: no cap)")
	readers := fs.Int("readers", 4, "snapshot data files read at once")
	segments := fs.Int("segments", 8, "verify's parallel Scan segments")
	keepTable := fs.Bool("keep-table", false, "do not delete the scratch table at the end (for a look after a failure); its name is printed")
	a.opts.Add(fs)
	a.opts.AddJSON(fs)
	afterRestore := fs.String("after-restore", "", "run this shell command after the restore, before verify, with DYNASNAP_DRILL_TABLE set to the scratch table's name; a non-zero exit fails the drill (to drill the drill: a command that changes an item must make it fail)")
	reportOut := fs.String("report-out", "", "also write the JSON report to this file or s3://BUCKET/KEY, whatever the outcome: where dynasnap status reads a table's newest drill (s3://BUCKET/PREFIX"+status.ResultsSuffix+"/TABLE/"+status.DrillResult+")")
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkReportOut(*reportOut); err != nil {
		return err
	}
	ways := 0
	for _, s := range []string{*snap, *source} {
		if s != "" {
			ways++
		}
	}
	if *snapshots != "" && *source == "" {
		ways++
	}
	switch {
	case ways != 1:
		return usageError{"give one of --snapshots, --snapshot and --source (--source may go with --snapshots, as where the new snapshot goes)"}
	case *out != "" && *source == "":
		return usageError{"--out goes with --source"}
	case *workers < 1:
		return usageError{"--workers must be at least 1"}
	case *maxWCU < 0 || *maxRPO < 0 || *maxRTO < 0:
		return usageError{"--max-wcu, --max-rpo and --max-rto must not be negative"}
	case *segments < 1 || *segments > 1000000:
		return usageError{"--segments must be between 1 and 1,000,000"}
	}
	if err := drill.CheckTablePrefix(*prefix); err != nil {
		return usageError{fmt.Sprintf("--table-prefix: %v", err)}
	}
	ks, err := keySchemaFlag(*keySchema)
	if err != nil {
		return err
	}
	if err := tdf.check(); err != nil {
		return err
	}
	def, err := tdf.load()
	if err != nil {
		return err
	}
	var src layout.Location
	if *source != "" {
		var err error
		if src, err = history.ParseSource(*source); err != nil {
			return usageError{err.Error()}
		}
	}

	d := &drillRun{a: a, json: a.opts.JSON, quiet: a.opts.Quiet, log: a.out, reportOut: *reportOut, ctx: ctx}
	clients, err := loadAWS(ctx, &awsOpts, *workers+*segments+*readers+256+16)
	if err != nil {
		return d.finish(nil, err)
	}
	d.clients = clients
	var s *snapshot.Snapshot
	var extra drillExtra
	switch {
	case *source != "":
		s, extra, err = d.takeSnapshot(ctx, clients, src, *out, *snapshots)
		if extra.temp != "" {
			defer os.RemoveAll(extra.temp)
		}
	case *snap != "":
		s, err = openSnapshot(ctx, clients, *snap)
	default:
		s, extra, err = d.newest(ctx, clients, *snapshots)
	}
	if err != nil {
		return d.finish(&drill.Report{Failures: []string{}, UnfinishedSkipped: extra.unfinished}, err)
	}

	written := &progress.Counter{Name: "items restored"}
	read := &progress.Counter{Name: "snapshot items verified"}
	scanned := &progress.Counter{Name: "table items scanned"}
	rep := progress.New(a.term, a.opts.Quiet, written, read, scanned)
	rep.Start(ctx)
	r, err := drill.Run(ctx, s, drill.Options{DynamoDB: clients.DynamoDB(), TablePrefix: *prefix, KeySchema: ks,
		Workers: *workers, MaxWCU: *maxWCU, Readers: *readers, Segments: *segments, MaxRPO: *maxRPO, MaxRTO: *maxRTO,
		Definition: def, Overrides: tdf.overrides(regionOf(clients.DynamoDB())), KeepExpired: tdf.keepExpired,
		Scaling: clients.ApplicationAutoScaling(), Lambda: clients.Lambda(), Replicas: tdf.replicas, KinesisDestinations: tdf.kinesis,
		KeepTable: *keepTable, Log: d.log, Written: written, Read: read, Scanned: scanned, AfterRestore: a.shellHook(*afterRestore, "--after-restore")})
	rep.Stop()
	r.SnapshotTaken, r.UnfinishedSkipped = extra.taken, extra.unfinished
	r.HistoryHorizon = drillHorizon(ctx, clients.Source(), s.Summary.Dynasnap.Source)
	return d.finish(r, err)
}

type drillRun struct {
	a           *app
	json, quiet bool
	log         *printer
	// reportOut is --report-out; ctx and clients write it.
	reportOut string
	ctx       context.Context
	clients   *awsconf.Clients
}

// drillExtra is what choosing the snapshot adds to the report.
type drillExtra struct {
	taken      *drill.Span // --source: how long taking the snapshot took
	temp       string      // --source without a destination: removed at the end
	unfinished []string    // --snapshots: folders skipped for lacking a summary
}

// finish prints the report (a failure before the drill started becomes
// one too, so monitoring always gets JSON) and turns it into the exit
// status.
func (d *drillRun) finish(r *drill.Report, err error) error {
	if r == nil {
		r = &drill.Report{Failures: []string{}}
	}
	if err != nil && len(r.Failures) == 0 { // Run records its own errors
		r.Passed, r.Failures = false, append(r.Failures, err.Error())
	}
	if !d.quiet {
		r.WriteText(d.a.stderr)
	}
	if d.json {
		enc := d.a.out.JSONEncoder()
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(r); jerr != nil && err == nil {
			err = jerr
		}
	}
	if d.reportOut != "" {
		if werr := writeReportOut(d.ctx, d.clients, d.reportOut, r); werr != nil {
			d.log.Errorf("drill: %v", werr)
			if err == nil {
				err = werr
			}
		}
	}
	switch {
	case err != nil:
		return err
	case r.Differs:
		return exitError{verifyDiffers, errors.New(strings.Join(r.Failures, "; "))}
	case r.OverBudget:
		return exitError{drillOverBudget, errors.New(strings.Join(r.Failures, "; "))}
	case !r.Passed:
		return errors.New(strings.Join(r.Failures, "; "))
	}
	return nil
}

func openSnapshot(ctx context.Context, clients *awsconf.Clients, url string) (*snapshot.Snapshot, error) {
	st, err := openSnapshotStore(clients.Source(), url)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--snapshot: %v", err)}
	}
	return snapshot.Open(ctx, st)
}

func (d *drillRun) newest(ctx context.Context, clients *awsconf.Clients, folder string) (*snapshot.Snapshot, drillExtra, error) {
	parent, err := store.Open(clients.Source(), folder, store.Options{})
	if err != nil {
		return nil, drillExtra{}, usageError{fmt.Sprintf("--snapshots: %v", err)}
	}
	f, err := drill.FindNewest(ctx, parent, func(url string) (store.Store, error) {
		return store.Open(clients.Source(), url, store.Options{})
	})
	extra := drillExtra{unfinished: f.Unfinished}
	if err != nil {
		return nil, extra, err
	}
	d.log.Printf("finished snapshots under %s: %d; the newest is %s (at %s)", parent.URL(""), f.Finished,
		f.Snapshot.Store.URL(""), f.Snapshot.Summary.ExportTime.UTC().Format(time.RFC3339))
	for _, u := range f.Unfinished {
		d.log.Printf("skipped %s: unfinished (no %s)", u, snapshot.SummaryName)
	}
	return f.Snapshot, extra, nil
}

// takeSnapshot has drill.TakeSnapshot take a snapshot of src, with
// progress on stderr; a refused destination is a usage error.
func (d *drillRun) takeSnapshot(ctx context.Context, clients *awsconf.Clients, src layout.Location, out, folder string) (*snapshot.Snapshot, drillExtra, error) {
	var extra drillExtra
	now, _ := history.Resolve("", time.Now())
	hs, _, err := openSource(ctx, clients, d.a.out, &history.TimeOptions{}, src, history.At{Flag: "the snapshot time", T: now})
	if err != nil {
		return nil, extra, err
	}
	defer hs.Close()
	listed := &progress.Counter{Name: "versions listed"}
	fetched := &progress.Counter{Name: "items fetched"}
	rep := progress.New(d.a.term, d.quiet, listed, fetched)
	rep.Start(ctx)
	t, err := drill.TakeSnapshot(ctx, hs, drill.TakeOptions{Source: src, Out: out, Folder: folder, Tool: "dynasnap " + version(),
		Open: func(url string) (store.Store, error) { return store.Open(clients, url, store.Options{}) },
		Log:  d.log, Listed: listed, Fetched: fetched})
	rep.Stop()
	var de *drill.DestinationError
	if errors.As(err, &de) {
		return nil, extra, usageError{de.Error()}
	}
	if err != nil {
		return nil, extra, err
	}
	extra.taken, extra.temp = &t.Took, t.Temp
	return t.Snapshot, extra, nil
}

// shellHook runs command with sh -c, the scratch table's name in
// DYNASNAP_DRILL_TABLE and its output on stderr; nil when command is empty.
func (a *app) shellHook(command, flag string) func(ctx context.Context, table string) error {
	if command == "" {
		return nil
	}
	return func(ctx context.Context, table string) error {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
		cmd.Env = append(os.Environ(), "DYNASNAP_DRILL_TABLE="+table)
		cmd.Stdout, cmd.Stderr = a.stderr, a.stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %q: %w", flag, command, err)
		}
		return nil
	}
}
