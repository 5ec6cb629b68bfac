package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/filter"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/restore"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

const restoreExamples = `  # a snapshot into a new on-demand table, then check it
  dynasnap restore --snapshot s3://exports/orders/2026-11-26T0930 --table orders-restored --create-table
  dynasnap verify --snapshot s3://exports/orders/2026-11-26T0930 --table orders-restored

  # straight from the versions, the table as it was at 09:30, into an empty table
  dynasnap restore --source s3://backups/dynasnap/orders --at 2026-11-26T09:30:00Z --table orders-0930

  # one item back to how it was two hours ago (or deleted, if it did not exist then)
  dynasnap restore --source s3://backups/dynasnap/orders --at -2h --table orders --key '{"pk":{"S":"order#42"}}'

  # undo everything since 09:30 in the live table, touching only the keys changed since
  dynasnap restore --source s3://backups/dynasnap/orders --at 2026-11-26T09:30:00Z --table orders --rewind

  # one tenant back to 14:00, every other tenant's items untouched
  dynasnap restore --source s3://backups/dynasnap/orders --at 2026-11-24T14:00:00Z --table orders \
      --where 'item.tenant == "acme"' --rewind
  dynasnap restore --source s3://backups/dynasnap/orders --at 2026-11-24T14:00:00Z --table orders --key-prefix 'acme#' --rewind

With --where or --key-prefix and --rewind (or --key), a changed key is restored when its image at --at
or its current item in the table matches, so items the selection gained since are deleted and items it
lost are put back. A key whose image at --at and current item disagree (one matches, the other exists
and does not: an item moved to or from another tenant) is left alone, listed, and the exit status is 3;
restore it with --key and no filter if that is what you want. Keys that match neither are never written.`

func cmdRestore(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "restore", "restore (--snapshot SNAP | --source s3://BUCKET/PREFIX/TABLE --at TIME) --table NAME [flags]", restoreExamples)
	snap := fs.String("snapshot", "", "the snapshot folder to restore: a local path or s3://bucket/prefix")
	source := fs.String("source", "", "restore straight from the versions in the table's backup folder s3://BUCKET/PREFIX/TABLE")
	at := fs.String("at", "", "with --source: point in time, RFC 3339 or a duration ago (-2h); default: the second in which the command starts (it waits for that second to end)")
	var timeOpts history.TimeOptions
	timeOpts.AddFlags(fs)
	table := fs.String("table", "", "the DynamoDB table to write into (required)")
	key := fs.String("key", "", `with --source: restore this one item, given by its key as DynamoDB JSON, e.g. '{"pk":{"S":"a"}}'`)
	rewind := fs.Bool("rewind", false, "with --source: into a live table, touch only the keys changed after --at (put back their image at --at, or delete them)")
	overwrite := fs.Bool("overwrite", false, "write into a table that already holds items (same keys are replaced, others stay)")
	createTable := fs.Bool("create-table", false, "create the table (on-demand billing) with the key schema of the snapshot or backup")
	keySchema := fs.String("key-schema", "", "with --create-table: the key as HASH:TYPE[,RANGE:TYPE], e.g. pk:S,sk:N (default: inferred from the items)")
	workers := fs.Int("workers", 32, "BatchWriteItem requests in flight")
	maxWCU := fs.Float64("max-wcu", 0, "cap the write rate at this many write capacity units a second (0: no cap)")
	readers := fs.Int("readers", 4, "with --snapshot: data files read at once")
	checkpoint := fs.String("checkpoint", "", "with --snapshot: checkpoint file of finished data files (default: in the user cache folder, named after the table and snapshot)")
	var planOpts history.PlanOptions
	planOpts.AddFlags(fs, "fetchers", 128)
	var sel filter.Options
	sel.AddFlags(fs, "restore only items")
	quiet := fs.Bool("quiet", false, "no progress and no summary on stderr")
	jsonOut := fs.Bool("json", false, "print a machine-readable summary as JSON on stdout")
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *table == "":
		return usageError{"--table is required"}
	case (*snap == "") == (*source == ""):
		return usageError{"give exactly one of --snapshot and --source"}
	case *snap != "" && (*at != "" || *key != "" || *rewind || planOpts.Shard != ""):
		return usageError{"--at, --key, --rewind and --shard go with --source, not --snapshot"}
	case *rewind && *createTable, *key != "" && *createTable:
		return usageError{"--rewind and --key restore into an existing table; drop --create-table"}
	case *workers < 1:
		return usageError{"--workers must be at least 1"}
	case *maxWCU < 0:
		return usageError{"--max-wcu must not be negative"}
	}
	if err := sel.Check(); err != nil {
		return usageError{err.Error()}
	}
	plan, err := planOpts.Plan()
	if err != nil {
		return usageError{err.Error()}
	}
	ks, err := keySchemaFlag(*keySchema)
	if err != nil {
		return err
	}
	clients, err := loadAWS(ctx, &awsOpts, *workers+planOpts.Fetchers+plan.ListConcurrency+16)
	if err != nil {
		return err
	}
	ddb := clients.DynamoDB()
	written := &progress.Counter{Name: "items written"}
	deleted := &progress.Counter{Name: "deleted"}
	w := &restore.Writer{Client: ddb, Table: *table, Workers: *workers, MaxWCU: *maxWCU, Written: written, Deleted: deleted}
	r := &restoreRun{a: a, ddb: ddb, table: *table, quiet: *quiet, json: *jsonOut, overwrite: *overwrite, create: *createTable, keySchema: ks, sel: sel}
	if *snap != "" {
		return r.fromSnapshot(ctx, clients.Source(), *snap, *checkpoint, *readers, w)
	}

	src, err := history.ParseSource(*source)
	if err != nil {
		return usageError{err.Error()}
	}
	atTime, err := history.Resolve(*at, time.Now())
	if err != nil {
		return usageError{fmt.Sprintf("--at: %v", err)}
	}
	opts := restore.VersionsOptions{Source: src, At: atTime, ClockSkew: timeOpts.Skew(), Rewind: *rewind, Plan: plan, Fetchers: planOpts.Fetchers}
	if *key != "" {
		k, err := item.Unmarshal([]byte(*key))
		if err != nil {
			return usageError{fmt.Sprintf("--key: %v", err)}
		}
		opts.Key = k
	}
	hs, err := s3source.OpenIn(ctx, clients.Source(), src.Bucket)
	if err != nil {
		return err
	}
	defer hs.Close()
	return r.fromVersions(ctx, hs, w, opts)
}

type restoreRun struct {
	a                          *app
	ddb                        *dynamodb.Client
	table                      string
	quiet, json                bool
	overwrite, create, created bool
	keySchema                  *keyschema.Schema
	sel                        filter.Options
}

// filter builds --where/--key-prefix once the table's key is known (a bare
// --key-prefix is a prefix of its partition key).
func (r *restoreRun) filter(ks keyschema.Schema) (func(item.Item) (bool, error), string, error) {
	return r.sel.Build(func() (string, error) { return ks.Hash.Name, nil })
}

// prepareTable returns the table's key schema, creating the table if asked.
// infer works the key schema out from the data when --key-schema is absent.
func (r *restoreRun) prepareTable(ctx context.Context, resumed bool, infer func() (keyschema.Schema, error)) (keyschema.Schema, error) {
	ks, err := keyschema.FromTable(ctx, r.ddb, r.table)
	switch {
	case errors.Is(err, keyschema.ErrNoTable) && r.create:
		if r.keySchema != nil {
			ks = *r.keySchema
		} else if ks, err = infer(); err != nil {
			return ks, err
		}
		if err := restore.CreateTable(ctx, r.ddb, r.table, ks); err != nil {
			return ks, err
		}
		r.created = true
		if !r.quiet {
			fmt.Fprintf(r.a.stderr, "created table %s (key %s, on-demand)\n", r.table, ks)
		}
		return ks, nil
	case errors.Is(err, keyschema.ErrNoTable):
		return ks, fmt.Errorf("table %s does not exist: create it, or pass --create-table", r.table)
	case err != nil:
		return ks, err
	case r.create && !resumed:
		return ks, fmt.Errorf("--create-table: table %s exists already; drop --create-table to restore into it", r.table)
	}
	if r.keySchema != nil && r.keySchema.String() != ks.String() {
		return ks, fmt.Errorf("--key-schema %s, but table %s's key is %s", r.keySchema, r.table, ks)
	}
	return ks, nil
}

func (r *restoreRun) checkEmpty(ctx context.Context) error {
	if r.overwrite || r.created {
		return nil
	}
	empty, err := restore.IsEmpty(ctx, r.ddb, r.table)
	if err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("table %s already holds items; restore writes only into an empty table unless --overwrite (items with the same key are then replaced, others stay; to make a live table match a past time use --source --rewind)", r.table)
	}
	return nil
}

func (r *restoreRun) fromSnapshot(ctx context.Context, clients *awsconf.Clients, snap, cpPath string, readers int, w *restore.Writer) error {
	st, err := openSnapshotStore(clients, snap)
	if err != nil {
		return usageError{fmt.Sprintf("--snapshot: %v", err)}
	}
	s, err := snapshot.Open(ctx, st)
	if err != nil {
		return err
	}
	if err := restore.CheckFormat(s); err != nil {
		return err
	}
	if cpPath == "" {
		if cpPath, err = restore.DefaultCheckpoint(r.table, st.URL(""), s.Summary.ExportTime, r.sel.String()); err != nil {
			return err
		}
	}
	cp, resumed, err := restore.OpenFilteredCheckpoint(cpPath, st.URL(""), s.Summary.ExportTime, r.table, r.sel.String())
	if err != nil {
		return err
	}
	ks, err := r.prepareTable(ctx, resumed, func() (keyschema.Schema, error) { return restore.InferKeySchema(ctx, s, "") })
	if err != nil {
		return err
	}
	if err := restore.CheckKeySchema(ctx, s, ks); err != nil {
		return err
	}
	match, desc, err := r.filter(ks)
	if err != nil {
		return err
	}
	if !resumed {
		if err := r.checkEmpty(ctx); err != nil {
			return err
		}
	}
	if resumed && !r.quiet {
		files, items := cp.Finished()
		fmt.Fprintf(r.a.stderr, "resuming from checkpoint %s: %d data files (%d items) already written\n", cpPath, files, items)
	}
	total := s.Summary.ItemCount
	_, done := cp.Finished()
	// Filtered, how many items will be written is unknown: the total goes
	// with the items read.
	read := &progress.Counter{Name: "items read"}
	counters := []*progress.Counter{w.Written}
	if match != nil {
		read.SetTotal(total - done)
		counters = append([]*progress.Counter{read}, counters...)
	} else {
		w.Written.SetTotal(total - done)
	}
	rep := progress.New(r.a.stderr, r.quiet, counters...)
	rep.Start(ctx)
	res, err := restore.FromSnapshot(ctx, s, w, restore.SnapshotOptions{Readers: readers, Checkpoint: cp, Filter: match, Read: read})
	rep.Stop()
	if err != nil {
		if ctx.Err() != nil || res.Puts > 0 {
			return fmt.Errorf("%w\n%d items written before the stop; rerun the same command to resume from checkpoint %s", err, res.Puts, cpPath)
		}
		return err
	}
	if err := cp.Remove(); err != nil {
		return err
	}
	if !r.quiet {
		fmt.Fprintf(r.a.stderr, "restored %s (at %s) into table %s: %d items in %.1fs (%.0f items/s)%s\n",
			st.URL(""), s.Summary.ExportTime.UTC().Format(time.RFC3339), r.table, res.Puts, res.Elapsed.Seconds(),
			float64(res.Puts)/res.Elapsed.Seconds(), skipped(res))
		if match != nil {
			fmt.Fprintf(r.a.stderr, "%d items filtered out (only items with %s were restored)\n", res.Filtered, desc)
		}
		fmt.Fprintln(r.a.stderr, retries(res))
	}
	// ImportTable reads DynamoDB JSON and Ion, not Parquet, and has no filter.
	if !r.quiet && s.Summary.OutputFormat != "PARQUET" && match == nil {
		fmt.Fprintf(r.a.stderr, "to load the same snapshot with DynamoDB ImportTable instead (server-side, into a new table; for tables too big to write through the API):\n%s\n",
			restore.ImportTableCommand(s, r.table, ks))
	}
	sum := r.report(res)
	sum.restoreFromSnapshot = &restoreFromSnapshot{Snapshot: st.URL(""), ExportTime: s.Summary.ExportTime}
	return r.printJSON(sum)
}

func (r *restoreRun) fromVersions(ctx context.Context, src history.Source, w *restore.Writer, opts restore.VersionsOptions) error {
	ks, err := r.prepareTable(ctx, false, func() (keyschema.Schema, error) { return restore.InferFromBackup(ctx, src, opts.Source) })
	if err != nil {
		return err
	}
	opts.Schema = ks
	var desc string
	if opts.Filter, desc, err = r.filter(ks); err != nil {
		return err
	}
	opts.Live = r.ddb
	if opts.Key != nil {
		if len(opts.Key) != len(ks.Names()) {
			return usageError{fmt.Sprintf("--key must hold exactly the table's key attributes (%s)", ks)}
		}
		for _, n := range ks.Names() {
			if _, ok := opts.Key[n]; !ok {
				return usageError{fmt.Sprintf("--key has no attribute %q; the table's key is %s", n, ks)}
			}
		}
	}
	if opts.Key == nil && !opts.Rewind {
		if err := r.checkEmpty(ctx); err != nil {
			return err
		}
	}
	listed := &progress.Counter{Name: "versions listed"}
	opts.Listed = listed
	rep := progress.New(r.a.stderr, r.quiet, listed, w.Written, w.Deleted)
	rep.Start(ctx)
	res, err := restore.FromVersions(ctx, src, w, opts)
	rep.Stop()
	if err != nil {
		return err
	}
	if !r.quiet {
		what := "restored"
		if opts.Rewind {
			what = "rewound"
		}
		fmt.Fprintf(r.a.stderr, "%s table %s to %s from %s: %d items put, %d deleted, of %d keys in the backup in %.1fs (%.0f writes/s)\n",
			what, r.table, opts.At.UTC().Format(time.RFC3339), opts.Source, res.Puts, res.Deletes, res.Keys, res.Elapsed.Seconds(),
			float64(res.Puts+res.Deletes)/res.Elapsed.Seconds())
		switch {
		case opts.Rewind && opts.Filter != nil:
			fmt.Fprintf(r.a.stderr, "rewind wrote %d of the %d keys changed after %s: %d not selected by %s, %d conflicts; %d keys unchanged were not written\n",
				res.Puts+res.Deletes, res.Keys-res.Unchanged, opts.At.UTC().Format(time.RFC3339), res.Filtered, desc, res.Conflicts, res.Unchanged)
		case opts.Rewind:
			fmt.Fprintf(r.a.stderr, "rewind touched only the %d keys changed after %s; %d keys unchanged were not written\n",
				res.Puts+res.Deletes, opts.At.UTC().Format(time.RFC3339), res.Unchanged)
		case opts.Filter != nil:
			fmt.Fprintf(r.a.stderr, "%d keys filtered out (not selected by %s), never written\n", res.Filtered, desc)
		}
		fmt.Fprintln(r.a.stderr, retries(res))
	}
	sum := r.report(res)
	sum.restoreFromVersions = &restoreFromVersions{Source: opts.Source.String(), At: opts.At.UTC(), Rewind: opts.Rewind,
		Keys: res.Keys, Unchanged: res.Unchanged}
	if opts.Filter != nil {
		sum.restoreConflicts = &restoreConflicts{Conflicts: res.Conflicts, ConflictKeys: append([]string{}, res.ConflictKeys...)}
	}
	if err := r.printJSON(sum); err != nil {
		return err
	}
	if res.Conflicts > 0 {
		return exitError{code: exitConflicts, err: conflictError(res, opts.At)}
	}
	return nil
}

// exitConflicts is the exit status of a filtered restore that left keys
// alone because the filter cannot tell whose they are; everything else
// was written.
const exitConflicts = 3

func conflictError(res *restore.Result, at time.Time) error {
	const shown = 10
	keys := res.ConflictKeys
	more := ""
	if int64(len(keys)) > shown {
		keys = keys[:shown]
	}
	if n := res.Conflicts - int64(len(keys)); n > 0 {
		more = fmt.Sprintf("\n  ... and %d more", n)
	}
	return fmt.Errorf("%d keys left alone: their image at %s and their current item disagree on the filter (one matches, the other does not: moved into or out of the selection), so restoring either way would change an item outside it; the rest was written. Restore them one by one with --key and no filter if that is what you want:\n  %s%s",
		res.Conflicts, at.UTC().Format(time.RFC3339), strings.Join(keys, "\n  "), more)
}

// restoreReport is restore --json (docs/JSON.md): the fields every
// restore has, then those of a restore from a snapshot or from versions.
type restoreReport struct {
	Table              string  `json:"table"`
	Puts               int64   `json:"puts"`
	Deletes            int64   `json:"deletes"`
	Seconds            float64 `json:"seconds"`
	ItemsPerSecond     float64 `json:"itemsPerSecond"`
	Requests           int64   `json:"requests"`
	UnprocessedRetried int64   `json:"unprocessedRetried"`
	ThrottledRetried   int64   `json:"throttledRetried"`
	Backoffs           int64   `json:"backoffs"`
	BackoffSeconds     float64 `json:"backoffSeconds"`
	SkippedFiles       int     `json:"skippedFiles"`
	SkippedItems       int64   `json:"skippedItems"`
	TableCreated       bool    `json:"tableCreated"`
	// FilteredOut is set with --where or --key-prefix only.
	FilteredOut *int64 `json:"filteredOut,omitempty"`
	*restoreFromSnapshot
	*restoreFromVersions
	*restoreConflicts
}

// restoreFromSnapshot is what restore --snapshot adds to the report.
type restoreFromSnapshot struct {
	Snapshot   string    `json:"snapshot"`
	ExportTime time.Time `json:"exportTime"`
}

// restoreFromVersions is what restore --source adds to the report.
type restoreFromVersions struct {
	Source    string    `json:"source"`
	At        time.Time `json:"at"`
	Rewind    bool      `json:"rewind"`
	Keys      int64     `json:"keys"`
	Unchanged int64     `json:"unchanged"`
}

// restoreConflicts is what a filtered restore --source adds.
type restoreConflicts struct {
	Conflicts    int64    `json:"conflicts"`
	ConflictKeys []string `json:"conflictKeys"`
}

// report fills the fields every restore has.
func (r *restoreRun) report(res *restore.Result) restoreReport {
	rep := restoreReport{Table: r.table, Puts: res.Puts, Deletes: res.Deletes, Seconds: res.Elapsed.Seconds(),
		ItemsPerSecond: float64(res.Puts+res.Deletes) / res.Elapsed.Seconds(), Requests: res.Requests,
		UnprocessedRetried: res.Unprocessed, ThrottledRetried: res.Throttled, Backoffs: res.Backoffs,
		BackoffSeconds: res.BackoffTime.Seconds(), SkippedFiles: res.SkippedFiles, SkippedItems: res.SkippedItems,
		TableCreated: r.created}
	if r.sel.Set() {
		rep.FilteredOut = &res.Filtered
	}
	return rep
}

func (r *restoreRun) printJSON(rep restoreReport) error {
	if !r.json {
		return nil
	}
	return json.NewEncoder(r.a.stdout).Encode(rep)
}

func skipped(res *restore.Result) string {
	if res.SkippedFiles == 0 {
		return ""
	}
	return fmt.Sprintf(", plus %d items in %d data files written by an earlier run", res.SkippedItems, res.SkippedFiles)
}

func retries(res *restore.Result) string {
	return fmt.Sprintf("%d BatchWriteItem calls; %d unprocessed requests and %d throttled calls retried, %d backoffs (%.1fs summed over workers)",
		res.Requests, res.Unprocessed, res.Throttled, res.Backoffs, res.BackoffTime.Seconds())
}

// openSnapshotStore opens a snapshot folder for reading.
func openSnapshotStore(clients *awsconf.Clients, snap string) (store.Store, error) {
	if layout.IsS3URL(snap) {
		return store.Open(clients, snap, store.Options{})
	}
	if _, err := os.Stat(snap); err != nil {
		return nil, err
	}
	return store.NewLocal(snap), nil
}
