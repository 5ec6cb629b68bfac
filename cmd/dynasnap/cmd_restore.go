package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/filter"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/restore"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

const restoreExamples = `  # a snapshot into a new table made as the backup recorded it (key, indexes, billing,
  # encryption, class; TTL, tags and point-in-time recovery once the items are in), then check it
  dynasnap restore --snapshot s3://exports/orders/2026-11-26T0930 --table orders-restored --create-table
  dynasnap verify --snapshot s3://exports/orders/2026-11-26T0930 --table orders-restored

  # into another region: its own KMS key, on-demand, pre-warmed for 40,000 writes a second
  dynasnap restore --snapshot s3://exports/orders/2026-11-26T0930 --table orders --create-table \
      --region eu-west-1 --table-kms-key alias/orders-dr --billing-mode PAY_PER_REQUEST --warm-write-units 40000
  # a full export (AWS's or dynasnap's, its folder or the folder above AWSDynamoDB/), then an
  # incremental export of the changes since: the table as it was at the end of that window
  dynasnap restore --snapshot s3://exports/orders/AWSDynamoDB/01764149400000-3f2a9c1d --table orders-restored --create-table
  dynasnap restore --changes s3://exports/orders-changes --table orders-restored

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
	fs := newFlags(a, "restore", "restore (--snapshot SNAP | --source s3://BUCKET/PREFIX/TABLE --at TIME | --changes EXPORT) --table NAME [flags]", restoreExamples)
	snap := fs.String("snapshot", "", "the snapshot folder to restore: a local path or s3://bucket/prefix")
	changes := fs.String("changes", "", "apply an incremental export (AWS's, or one diff --out wrote; its folder or the folder above AWSDynamoDB/) to an existing table: each key's newest change is put, or deleted when it has no NewImage")
	source := fs.String("source", "", "restore straight from the versions in the table's backup folder s3://BUCKET/PREFIX/TABLE")
	at := fs.String("at", "", "with --source: point in time, RFC 3339 or a duration ago (-2h); default: the second in which the command starts (it waits for that second to end)")
	var timeOpts history.TimeOptions
	timeOpts.AddFlags(fs)
	table := fs.String("table", "", "the DynamoDB table to write into (required)")
	key := fs.String("key", "", `with --source: restore this one item, given by its key as DynamoDB JSON, e.g. '{"pk":{"S":"a"}}'`)
	rewind := fs.Bool("rewind", false, "with --source: into a live table, touch only the keys changed after --at (put back their image at --at, or delete them)")
	overwrite := fs.Bool("overwrite", false, "write into a table that already holds items (same keys are replaced, others stay)")
	createTable := fs.Bool("create-table", false, "create the table as the backup's definition records it: key, GSIs, LSIs, billing mode and capacities, encryption, table class, deletion protection; TTL, tags and point-in-time recovery are set after the load (a backup without a definition: on-demand, key only)")
	keySchema := fs.String("key-schema", "", "with --create-table and a backup that records no definition: the key as HASH:TYPE[,RANGE:TYPE], e.g. pk:S,sk:N (default: inferred from the items)")
	var tdf tableDefFlags
	tdf.addFlags(fs)
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
	case (*snap != "" && *source != "") || (*changes != "" && (*snap != "" || *source != "")):
		return usageError{"give exactly one of --snapshot, --source and --changes"}
	case *snap == "" && *source == "" && *changes == "":
		return usageError{"give one of --snapshot, --source and --changes"}
	case *changes != "" && (*at != "" || *key != "" || *rewind || planOpts.Shard != "" || *createTable):
		return usageError{"--changes applies an export to an existing table: --at, --key, --rewind, --shard and --create-table do not go with it"}
	case *snap != "" && (*at != "" || *key != "" || *rewind || planOpts.Shard != ""):
		return usageError{"--at, --key, --rewind and --shard go with --source, not --snapshot"}
	case *rewind && *createTable, *key != "" && *createTable:
		return usageError{"--rewind and --key restore into an existing table; drop --create-table"}
	case *workers < 1:
		return usageError{"--workers must be at least 1"}
	case *maxWCU < 0:
		return usageError{"--max-wcu must not be negative"}
	case tdf.set() && !*createTable:
		return usageError{"--table-definition, --billing-mode, --table-kms-key, --table-class and --warm-write-units go with --create-table"}
	}
	if err := tdf.check(); err != nil {
		return err
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
	// Last of the flag checks, so a test of another flag may name any table.
	if err := checkTableName("--table", *table); err != nil {
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
	r := &restoreRun{a: a, ddb: ddb, table: *table, quiet: *quiet, json: *jsonOut, overwrite: *overwrite, create: *createTable, keySchema: ks, sel: sel,
		tdf: tdf, workers: *workers, maxWCU: *maxWCU}
	if r.def, err = tdf.load(); err != nil {
		return err
	}
	if r.def != nil {
		r.defFrom = tdf.file
	}
	if *snap != "" {
		return r.fromSnapshot(ctx, clients.Source(), *snap, *checkpoint, *readers, w)
	}
	if *changes != "" {
		return r.fromChanges(ctx, clients.Source(), *changes, w)
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
	hs, warns, err := openSource(ctx, clients, a.stderr, *quiet, &timeOpts, src, history.At{Flag: "--at", T: atTime})
	if err != nil {
		return err
	}
	defer hs.Close()
	r.historyWarnings = warns
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

	historyWarnings []string // --source: the lifecycle horizon's
	tdf             tableDefFlags
	def             *tabledef.Definition // the table's definition: --table-definition, the snapshot's or the backup's at --at
	defFrom         string               // where def came from
	defNote         string               // why there is none
	createIn        *dynamodb.CreateTableInput
	workers         int
	maxWCU          float64
}

// prepareDefinition settles the definition once the snapshot or backup is
// known: --table-definition wins over the recorded one.
func (r *restoreRun) prepareDefinition(def *tabledef.Definition, from, note string) {
	if r.def == nil {
		r.def, r.defFrom, r.defNote = def, from, note
	}
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
	case errors.Is(err, keyschema.ErrNoTable) && r.create && r.def != nil:
		if ks, err = r.def.Key(); err != nil {
			return ks, err
		}
		if r.keySchema != nil && r.keySchema.String() != ks.String() {
			return ks, fmt.Errorf("--key-schema %s, but the table definition (%s) has the key %s", r.keySchema, r.defFrom, ks)
		}
		in, err := tabledef.CreateInput(r.def, r.table, r.tdf.overrides(regionOf(r.ddb)))
		if err != nil {
			return ks, err
		}
		if err := restore.CreateTableFrom(ctx, r.ddb, in); err != nil {
			return ks, err
		}
		r.created, r.createIn = true, in
		if !r.quiet {
			fmt.Fprintf(r.a.stderr, "created table %s as recorded in %s: key %s, %s\n", r.table, r.defFrom, ks, describeCreated(in))
		}
		return ks, nil
	case errors.Is(err, keyschema.ErrNoTable) && r.create:
		if r.tdf.billing != "" || r.tdf.kmsKey != "" || r.tdf.class != "" {
			return ks, fmt.Errorf("--billing-mode, --table-kms-key and --table-class change a recorded definition, and %s: pass --table-definition", r.defNote)
		}
		if r.keySchema != nil {
			ks = *r.keySchema
		} else if ks, err = infer(); err != nil {
			return ks, fmt.Errorf("%w\n(%s)", err, r.defNote)
		}
		in := restore.KeyOnlyInput(r.table, ks)
		if r.tdf.warm > 0 {
			in.WarmThroughput = &types.WarmThroughput{WriteUnitsPerSecond: aws.Int64(r.tdf.warm)}
		}
		if err := restore.CreateTableFrom(ctx, r.ddb, in); err != nil {
			return ks, err
		}
		r.created, r.createIn = true, in
		if !r.quiet {
			fmt.Fprintf(r.a.stderr, "created table %s (key %s, on-demand) with the key only: %s\n", r.table, ks, r.defNote)
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
	sdef, err := s.Definition(ctx)
	if err != nil {
		return err
	}
	r.prepareDefinition(sdef, st.URL(snapshot.DefinitionName),
		fmt.Sprintf("snapshot %s holds no %s (taken from a backup that records no table definition: written before dynasnap recorded one, or by mapbox/dynamodb-replicator; or an AWS export)", st.URL(""), snapshot.DefinitionName))
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
	expiry := r.tdf.expiry(r.def)
	res, err := restore.FromSnapshot(ctx, s, w, restore.SnapshotOptions{Readers: readers, Checkpoint: cp, Filter: match, Read: read, Expired: expiry})
	rep.Stop()
	if err != nil {
		if errors.Is(err, snapshot.ErrDamaged) {
			// A rerun would stop at the same file: say so rather than
			// advise one.
			return fmt.Errorf("%w\n%d items written (from other data files) before the stop; the snapshot is damaged: restore from another snapshot, or take a new one", err, res.Puts)
		}
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
	settingsErr := r.afterLoad(ctx, res, expiry)
	// ImportTable reads DynamoDB JSON and Ion, not Parquet, and has no filter.
	if !r.quiet && s.Summary.OutputFormat != "PARQUET" && match == nil {
		cmd, notes := restore.ImportTableCommand(s, r.importInput(ks))
		fmt.Fprintf(r.a.stderr, "to load the same snapshot with DynamoDB ImportTable instead (server-side, into a new table; for tables too big to write through the API):\n%s\n", cmd)
		for _, n := range notes {
			fmt.Fprintf(r.a.stderr, "  note: %s\n", n)
		}
	}
	sum := r.report(res)
	sum.restoreFromSnapshot = &restoreFromSnapshot{Snapshot: st.URL(""), ExportTime: s.Summary.ExportTime}
	if err := r.printJSON(sum); err != nil {
		return err
	}
	return settingsErr
}

// fromChanges applies an incremental export to an existing table.
func (r *restoreRun) fromChanges(ctx context.Context, clients *awsconf.Clients, export string, w *restore.Writer) error {
	st, err := openSnapshotStore(clients, export)
	if err != nil {
		return usageError{fmt.Sprintf("--changes: %v", err)}
	}
	c, err := snapshot.OpenChanges(ctx, st)
	if err != nil {
		return err
	}
	ks, err := r.prepareTable(ctx, false, nil)
	if err != nil {
		return err
	}
	match, desc, err := r.filter(ks)
	if err != nil {
		return err
	}
	read := &progress.Counter{Name: "changes read"}
	rep := progress.New(r.a.stderr, r.quiet, read, w.Written, w.Deleted)
	rep.Start(ctx)
	res, err := restore.FromChanges(ctx, c, w, restore.ChangesOptions{Filter: match, Read: read, KeySchema: &ks})
	rep.Stop()
	if err != nil {
		return err
	}
	from, to := c.Summary.ExportFromTime.UTC().Format(time.RFC3339Nano), c.Summary.ExportToTime.UTC().Format(time.RFC3339Nano)
	if !r.quiet {
		fmt.Fprintf(r.a.stderr, "applied %s (changes from %s to %s) to table %s: %d keys, %d put, %d deleted in %.1fs\n",
			c.Store.URL(""), from, to, r.table, res.Keys, res.Puts, res.Deletes, res.Elapsed.Seconds())
		if match != nil {
			fmt.Fprintf(r.a.stderr, "%d changes filtered out (only changes to items with %s were applied)\n", res.Filtered, desc)
		}
		fmt.Fprintln(r.a.stderr, retries(res))
	}
	sum := r.report(res)
	sum.restoreFromChanges = &restoreFromChanges{Changes: c.Store.URL(""), ExportFromTime: from, ExportToTime: to}
	sum.Keys = &res.Keys
	return r.printJSON(sum)
}

func (r *restoreRun) fromVersions(ctx context.Context, src history.Source, w *restore.Writer, opts restore.VersionsOptions) error {
	if r.def == nil {
		// The definition at --at by the items' time rule, once the listing
		// may start (docs/DESIGN.md §3).
		skew := opts.ClockSkew
		if skew == 0 {
			skew = history.DefaultClockSkew
		}
		if err := history.Wait(ctx, opts.At, max(skew, 0)); err != nil {
			return err
		}
		rec, err := tabledef.At(ctx, src, opts.Source, opts.At)
		if err != nil {
			return err
		}
		r.prepareDefinition(rec.Def, fmt.Sprintf("s3://%s/%s version %s", opts.Source.Bucket, rec.Key, rec.From.VersionID), rec.Missing(opts.Source, opts.At))
	}
	if opts.Key == nil && !opts.Rewind {
		opts.Expired = r.tdf.expiry(r.def)
	}
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
	settingsErr := r.afterLoad(ctx, res, opts.Expired)
	sum := r.report(res)
	sum.restoreFromVersions = &restoreFromVersions{Source: opts.Source.String(), At: opts.At.UTC(), Rewind: opts.Rewind,
		Unchanged: res.Unchanged, HistoryWarnings: r.historyWarnings}
	sum.Keys = &res.Keys
	if opts.Filter != nil {
		sum.restoreConflicts = &restoreConflicts{Conflicts: res.Conflicts, ConflictKeys: append([]string{}, res.ConflictKeys...)}
	}
	if err := r.printJSON(sum); err != nil {
		return err
	}
	if res.Conflicts > 0 {
		return exitError{code: exitConflicts, err: errors.Join(settingsErr, conflictError(res, opts.At))}
	}
	return settingsErr
}

// afterLoad reports expired items and the write limit met, and sets what
// CreateTable could not (TTL, tags, point-in-time recovery) on a table it
// created from a definition. A failure there is returned, the items stay.
func (r *restoreRun) afterLoad(ctx context.Context, res *restore.Result, expiry *restore.Expiry) error {
	if !r.quiet {
		if expiry != nil {
			fmt.Fprintf(r.a.stderr, "%d expired items skipped (TTL attribute %s before %s; DynamoDB would delete them again; --keep-expired loads them)\n",
				res.Expired, expiry.Attr, expiry.Now.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(r.a.stderr, "write rate limited by %s\n", r.limit(res))
	}
	if !r.created || r.def == nil {
		return nil
	}
	done, err := tabledef.AfterLoad(ctx, r.ddb, r.table, r.def)
	if !r.quiet {
		if len(done) > 0 {
			fmt.Fprintf(r.a.stderr, "set after the load: %s\n", strings.Join(done, ", "))
		}
		if sp := r.def.StreamSpecification; sp != nil && sp.StreamEnabled {
			fmt.Fprintf(r.a.stderr, "the recorded table had a stream (%s); the new table has none: enable one to back it up\n", sp.StreamViewType)
		}
		if len(r.def.Dynasnap.Unread) > 0 {
			fmt.Fprintf(r.a.stderr, "not set, the backup could not read them: %s\n", strings.Join(r.def.Dynasnap.Unread, ", "))
		}
	}
	if err != nil {
		return fmt.Errorf("the items are restored into %s, but: %w", r.table, err)
	}
	return nil
}

// limit names what bounded the write rate: the table (throttling), the
// --max-wcu cap, or this client (workers and readers).
func (r *restoreRun) limit(res *restore.Result) string {
	rate := float64(res.Puts+res.Deletes) / max(res.Elapsed.Seconds(), 1e-9)
	switch {
	case res.Throttled > 0 || res.Unprocessed > 0:
		warm := "a new on-demand table starts at about 4,000 writes/s; --warm-write-units pre-warms it"
		if r.createIn != nil && r.createIn.WarmThroughput != nil {
			warm = fmt.Sprintf("created warm for %d writes/s", aws.ToInt64(r.createIn.WarmThroughput.WriteUnitsPerSecond))
		}
		return fmt.Sprintf("the table's throughput: %d throttled calls and %d unprocessed requests retried (%s)", res.Throttled, res.Unprocessed, warm)
	case r.maxWCU > 0 && rate >= 0.8*r.maxWCU:
		return fmt.Sprintf("--max-wcu %.0f (%.0f writes/s)", r.maxWCU, rate)
	}
	return fmt.Sprintf("this client, not the table (%.0f writes/s with --workers %d, no throttling): more --workers or --readers may go faster", rate, r.workers)
}

// importInput is the table ImportTable would create: as recorded when the
// definition is known, else the key only.
func (r *restoreRun) importInput(ks keyschema.Schema) *dynamodb.CreateTableInput {
	if r.createIn != nil {
		return r.createIn
	}
	if r.def != nil {
		if in, err := tabledef.CreateInput(r.def, r.table, r.tdf.overrides(regionOf(r.ddb))); err == nil {
			return in
		}
	}
	return restore.KeyOnlyInput(r.table, ks)
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
	// ExpiredSkipped counts items whose TTL had passed (not loaded).
	ExpiredSkipped int64 `json:"expiredSkipped"`
	// LimitedBy names what the write rate met: the table, --max-wcu or the client.
	LimitedBy string `json:"limitedBy"`
	// Keys is set by --source (keys in the backup) and --changes (keys the
	// export changes).
	Keys *int64 `json:"keys,omitempty"`
	// FilteredOut is set with --where or --key-prefix only.
	FilteredOut *int64 `json:"filteredOut,omitempty"`
	*restoreFromSnapshot
	*restoreFromChanges
	*restoreFromVersions
	*restoreConflicts
}

// restoreFromSnapshot is what restore --snapshot adds to the report.
type restoreFromSnapshot struct {
	Snapshot   string    `json:"snapshot"`
	ExportTime time.Time `json:"exportTime"`
}

// restoreFromChanges is what restore --changes adds to the report.
type restoreFromChanges struct {
	Changes        string `json:"changes"`
	ExportFromTime string `json:"exportFromTime"`
	ExportToTime   string `json:"exportToTime"`
	// Keys (the keys the export changes) is the report's own field: two
	// embedded parts with one JSON name would both be dropped.
}

// restoreFromVersions is what restore --source adds to the report.
type restoreFromVersions struct {
	Source    string    `json:"source"`
	At        time.Time `json:"at"`
	Rewind    bool      `json:"rewind"`
	Unchanged int64     `json:"unchanged"`
	// HistoryWarnings are the lifecycle horizon's (docs/DESIGN.md §3).
	HistoryWarnings []string `json:"historyWarnings,omitempty"`
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
		TableCreated: r.created, ExpiredSkipped: res.Expired, LimitedBy: limitKind(r, res)}
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

func limitKind(r *restoreRun, res *restore.Result) string {
	switch l := r.limit(res); {
	case strings.HasPrefix(l, "the table"):
		return "table"
	case strings.HasPrefix(l, "--max-wcu"):
		return "max-wcu"
	}
	return "client"
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
