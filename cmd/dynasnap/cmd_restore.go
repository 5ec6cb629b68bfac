package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/filter"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/restore"
	"github.com/dynasnap/dynasnap/internal/snapshot"
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

  # a bad deploy wrote between 14:00 and 14:20: put back what it changed, leave what was written since
  dynasnap restore --source s3://backups/dynasnap/orders --table orders --undo \
      --from 2026-11-24T14:00:00Z --to 2026-11-24T14:20:00Z --dry-run
  dynasnap restore --source s3://backups/dynasnap/orders --table orders --undo \
      --from 2026-11-24T14:00:00Z --to 2026-11-24T14:20:00Z

With --undo, every key changed in [--from, --to) gets back its state just before --from (or is deleted if
it did not exist then), unless it changed again at or after --to or its live item is no longer its state
at the end of the window: such a key is a conflict, left alone and listed with its three states (before,
end of the window, now), and the exit status is 3. Each write is conditional on the live item still
being the end-of-window state, so a concurrent write is never lost; a rerun finds nothing to do.

With --where or --key-prefix and --rewind (or --key), a changed key is restored when its image at --at
or its current item in the table matches, so items the selection gained since are deleted and items it
lost are put back. A key whose image at --at and current item disagree (one matches, the other exists
and does not: an item moved to or from another tenant) is left alone, listed, and the exit status is 3;
restore it with --key and no filter if that is what you want. Keys that match neither are never written.`

func cmdRestore(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "restore", "restore (--snapshot SNAP | --source s3://BUCKET/PREFIX/TABLE (--at TIME | --undo --from T1 [--to T2]) | --changes EXPORT) --table NAME [flags]", restoreExamples)
	snap := fs.String("snapshot", "", "the snapshot folder to restore: a local path or s3://bucket/prefix")
	changes := fs.String("changes", "", "apply an incremental export (AWS's, or one diff --out wrote; its folder or the folder above AWSDynamoDB/) to an existing table: each key's newest change is put, or deleted when it has no NewImage")
	source := fs.String("source", "", "restore straight from the versions in the table's backup folder s3://BUCKET/PREFIX/TABLE")
	at := fs.String("at", "", "with --source: point in time, RFC 3339 or a duration ago (-2h); default: the second in which the command starts (it waits for that second to end)")
	var timeOpts history.TimeOptions
	timeOpts.AddFlags(fs)
	table := fs.String("table", "", "the DynamoDB table to write into (required)")
	key := fs.String("key", "", `with --source: restore this one item, given by its key as DynamoDB JSON, e.g. '{"pk":{"S":"a"}}'`)
	rewind := fs.Bool("rewind", false, "with --source: into a live table, touch only the keys changed after --at (put back their image at --at, or delete them)")
	undo := fs.Bool("undo", false, "with --source: into a live table, undo the changes made in [--from, --to): each key changed then gets back its state just before --from, unless it changed again since (a conflict: left alone, listed, exit 3)")
	undoFrom := fs.String("from", "", "with --undo: the window's start, inclusive: RFC 3339 or a duration ago (-2h)")
	undoTo := fs.String("to", "", "with --undo: the window's end, exclusive (default: the second in which the command starts; it waits for that second to end)")
	includeExpired := fs.Bool("include-expired", false, "with --rewind or --undo: put back items that TTL deleted too (by default an item TTL deleted is not resurrected)")
	dryRun := fs.Bool("dry-run", false, "with --undo: list what would be written and what conflicts; write nothing")
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
	a.opts.Add(fs)
	a.opts.AddJSON(fs)
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
	case *undo && (*source == "" || *undoFrom == ""):
		return usageError{"--undo needs --source and --from"}
	case *undo && (*at != "" || *key != "" || *rewind || *createTable || *overwrite):
		return usageError{"--undo works on its window, on an existing table: --at, --key, --rewind, --create-table and --overwrite do not go with it"}
	case !*undo && (*undoFrom != "" || *undoTo != "" || *dryRun):
		return usageError{"--from, --to and --dry-run go with --undo"}
	case *includeExpired && !*undo && !*rewind:
		return usageError{"--include-expired goes with --rewind or --undo"}
	case *workers < 1:
		return usageError{"--workers must be at least 1"}
	case *maxWCU < 0:
		return usageError{"--max-wcu must not be negative"}
	case tdf.set() && !*createTable:
		return usageError{"--table-definition, --billing-mode, --table-kms-key, --table-class, --warm-write-units, --replicas and --kinesis-destinations go with --create-table"}
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
	def, err := tdf.load()
	if err != nil {
		return err
	}
	written := &progress.Counter{Name: "items written"}
	deleted := &progress.Counter{Name: "deleted"}
	opts := restore.Options{Table: *table, Create: *createTable, Overwrite: *overwrite, KeySchema: ks, Definition: def, DefinitionFrom: tdf.file,
		Overrides: tdf.overrides(regionOf(ddb)), KeepExpired: tdf.keepExpired, Select: sel, Workers: *workers, MaxWCU: *maxWCU, Written: written, Deleted: deleted,
		Recreate: tdf.recreate(regionOf(ddb), clients.ApplicationAutoScaling(), clients.Lambda())}
	v := &restoreView{a: a, quiet: a.opts.Quiet, json: a.opts.JSON}
	var src restore.Source
	var counters []*progress.Counter
	switch {
	case *snap != "" || *changes != "":
		flag, url, read := "--snapshot", *snap, &progress.Counter{Name: "items read"}
		if *changes != "" {
			flag, url, read.Name = "--changes", *changes, "changes read"
		}
		st, err := openSnapshotStore(clients.Source(), url)
		if err != nil {
			return usageError{fmt.Sprintf("%s: %v", flag, err)}
		}
		if *changes != "" {
			c, err := snapshot.OpenChanges(ctx, st)
			if err != nil {
				return err
			}
			src, counters = &restore.Changes{Changes: c, Read: read}, []*progress.Counter{read, written, deleted}
			break
		}
		s, err := snapshot.Open(ctx, st)
		if err != nil {
			return err
		}
		src, counters = &restore.Snapshot{Snapshot: s, Readers: *readers, Checkpoint: *checkpoint, Read: read}, []*progress.Counter{written}
		if sel.Set() {
			counters = []*progress.Counter{read, written}
		}
	default:
		loc, err := history.ParseSource(*source)
		if err != nil {
			return usageError{err.Error()}
		}
		now := time.Now()
		atTime, err := history.Resolve(*at, now)
		if err != nil {
			return usageError{fmt.Sprintf("--at: %v", err)}
		}
		times := []history.At{{Flag: "--at", T: atTime}}
		var un *restore.Undo
		if *undo {
			un = &restore.Undo{DryRun: *dryRun, IncludeExpired: *includeExpired}
			if un.From, err = history.Resolve(*undoFrom, now); err != nil {
				return usageError{fmt.Sprintf("--from: %v", err)}
			}
			if un.To, err = history.Resolve(*undoTo, now); err != nil {
				return usageError{fmt.Sprintf("--to: %v", err)}
			}
			if !un.From.Before(un.To) {
				return usageError{fmt.Sprintf("--from %s must be before --to %s", history.FormatTime(un.From), history.FormatTime(un.To))}
			}
			times = []history.At{{Flag: "--from", T: un.From}, {Flag: "--to", T: un.To}}
		}
		listed := &progress.Counter{Name: "versions listed"}
		vo := restore.VersionsOptions{Source: loc, At: atTime, ClockSkew: timeOpts.Skew(), Rewind: *rewind, IncludeExpired: *includeExpired,
			Plan: plan, Fetchers: planOpts.Fetchers, Listed: listed}
		if *key != "" {
			if vo.Key, err = item.Unmarshal([]byte(*key)); err != nil {
				return usageError{fmt.Sprintf("--key: %v", err)}
			}
		}
		hs, warns, err := openSource(ctx, clients, a.out, &timeOpts, loc, times...)
		if err != nil {
			return err
		}
		defer hs.Close()
		src, counters = &restore.Versions{Source: hs, Options: vo, Undo: un, HistoryWarnings: warns}, []*progress.Counter{listed, written, deleted}
	}
	var prog *progress.Reporter
	opts.Prepared = func(ctx context.Context, rep *restore.Report) error {
		v.prepared(rep)
		prog = progress.New(a.term, a.opts.Quiet, counters...)
		prog.Start(ctx)
		return nil
	}
	rep, err := restore.Restore(ctx, ddb, src, opts)
	if prog != nil {
		prog.Stop()
	}
	if rerr := (*restore.RequestError)(nil); errors.As(err, &rerr) {
		return usageError{rerr.Error()}
	}
	if err != nil {
		return err
	}
	return v.finish(rep)
}

// restoreView renders a restore's report: lines on stderr, --json on stdout.
type restoreView struct {
	a           *app
	quiet, json bool
}

// prepared says what preparing the table did, before the items load.
func (v *restoreView) prepared(rep *restore.Report) {
	if v.quiet {
		return
	}
	switch {
	case rep.Created && rep.Definition != nil:
		fmt.Fprintf(v.a.stderr, "created table %s as recorded in %s: key %s, %s\n", rep.Name, rep.DefinitionFrom, rep.KeySchema, describeCreated(rep.CreateInput))
	case rep.Created:
		fmt.Fprintf(v.a.stderr, "created table %s (key %s, on-demand) with the key only: %s\n", rep.Name, rep.KeySchema, rep.DefinitionNote)
	}
	if rep.Resumed {
		fmt.Fprintf(v.a.stderr, "resuming from checkpoint %s: %d data files (%d items) already written\n", rep.Checkpoint, rep.ResumedFiles, rep.ResumedItems)
	}
}

// finish prints the summary and the JSON report, and turns what is left
// (settings not set after the load, conflicts) into the exit status.
func (v *restoreView) finish(rep *restore.Report) error {
	res, w := rep.Result, v.a.stderr
	if !v.quiet {
		switch {
		case rep.Snapshot != nil:
			fmt.Fprintf(w, "restored %s (at %s) into table %s: %d items in %.1fs (%.0f items/s)%s\n",
				rep.Snapshot.Snapshot, rep.Snapshot.ExportTime.UTC().Format(time.RFC3339), rep.Name, res.Puts, res.Elapsed.Seconds(),
				float64(res.Puts)/res.Elapsed.Seconds(), skipped(res))
			if rep.Filter != "" {
				fmt.Fprintf(w, "%d items filtered out (only items with %s were restored)\n", res.Filtered, rep.Filter)
			}
		case rep.Undo != nil:
			v.undoSummary(rep)
		case rep.Changes != nil:
			fmt.Fprintf(w, "applied %s (changes from %s to %s) to table %s: %d keys, %d put, %d deleted in %.1fs\n",
				rep.Changes.Changes, rep.Changes.ExportFromTime, rep.Changes.ExportToTime, rep.Name, res.Keys, res.Puts, res.Deletes, res.Elapsed.Seconds())
			if rep.Filter != "" {
				fmt.Fprintf(w, "%d changes filtered out (only changes to items with %s were applied)\n", res.Filtered, rep.Filter)
			}
		default:
			v.versionsSummary(rep)
		}
		fmt.Fprintln(w, retries(res))
		if rep.Changes == nil && rep.Undo == nil {
			v.afterLoad(rep)
		}
		if rep.ImportTable != "" {
			fmt.Fprintf(w, "to load the same snapshot with DynamoDB ImportTable instead (server-side, into a new table; for tables too big to write through the API):\n%s\n", rep.ImportTable)
			for _, n := range rep.ImportNotes {
				fmt.Fprintf(w, "  note: %s\n", n)
			}
		}
	}
	var settingsErr error
	if rep.AfterLoadErr != nil {
		settingsErr = fmt.Errorf("the items are restored into %s, but: %w", rep.Name, rep.AfterLoadErr)
	}
	if v.json {
		if err := v.a.out.JSON(rep.Summary()); err != nil {
			return err
		}
	}
	if res.Conflicts > 0 && rep.Undo != nil {
		return exitError{code: exitConflicts, err: errors.Join(settingsErr, fmt.Errorf("%d keys left alone as conflicts (listed above%s); the rest was undone", res.Conflicts, map[bool]string{true: " and in --json", false: ""}[v.json]))}
	}
	if res.Conflicts > 0 {
		return exitError{code: exitConflicts, err: errors.Join(settingsErr, conflictError(res, rep.Versions.At))}
	}
	return settingsErr
}

func (v *restoreView) versionsSummary(rep *restore.Report) {
	res, w, at := rep.Result, v.a.stderr, rep.Versions.At.Format(time.RFC3339)
	what := "restored"
	if rep.Versions.Rewind {
		what = "rewound"
	}
	fmt.Fprintf(w, "%s table %s to %s from %s: %d items put, %d deleted, of %d keys in the backup in %.1fs (%.0f writes/s)\n",
		what, rep.Name, at, rep.Versions.Source, res.Puts, res.Deletes, res.Keys, res.Elapsed.Seconds(),
		float64(res.Puts+res.Deletes)/res.Elapsed.Seconds())
	switch {
	case rep.Versions.Rewind && rep.Filter != "":
		fmt.Fprintf(w, "rewind wrote %d of the %d keys changed after %s: %d not selected by %s, %d conflicts; %d keys unchanged were not written\n",
			res.Puts+res.Deletes, res.Keys-res.Unchanged, at, res.Filtered, rep.Filter, res.Conflicts, res.Unchanged)
	case rep.Versions.Rewind:
		fmt.Fprintf(w, "rewind touched only the %d keys changed after %s; %d keys unchanged were not written\n",
			res.Puts+res.Deletes, at, res.Unchanged)
	case rep.Filter != "":
		fmt.Fprintf(w, "%d keys filtered out (not selected by %s), never written\n", res.Filtered, rep.Filter)
	}
	if rep.Versions.Rewind && res.Expired > 0 {
		fmt.Fprintf(w, "%d items expired (deleted by TTL after %s) were not put back (--include-expired puts them back)\n", res.Expired, at)
	}
}

// undoSummary says what restore --undo did, and lists its conflicts and
// TTL deletes (with --dry-run, its writes too).
func (v *restoreView) undoSummary(rep *restore.Report) {
	res, w, u := rep.Result, v.a.stderr, rep.Undo
	window := fmt.Sprintf("[%s, %s)", history.FormatTime(u.From), history.FormatTime(u.To))
	verb := "undid"
	if u.DryRun {
		verb = "dry run, nothing written: would undo"
	}
	fmt.Fprintf(w, "%s the changes of %s in table %s from %s: %d restored, %d deleted, %d conflicts, %d expired left alone; %d of %d keys in the backup needed nothing, in %.1fs\n",
		verb, window, rep.Name, rep.Versions.Source, res.Undo.Restored, res.Undo.Deleted, res.Undo.Conflicts, res.Undo.Expired, res.Unchanged, res.Keys, res.Elapsed.Seconds())
	if rep.Filter != "" {
		fmt.Fprintf(w, "%d changed keys not selected by %s, never written\n", res.Filtered, rep.Filter)
	}
	const shown = 100
	for i, k := range res.Undo.Listed {
		if i == shown {
			fmt.Fprintf(w, "  ... %d more listed in --json\n", len(res.Undo.Listed)-shown)
			break
		}
		switch k.Action {
		case restore.UndoConflict:
			fmt.Fprintf(w, "conflict %s: %s\n  before: %s\n  end of window: %s\n  now: %s\n", k.Key, k.Reason, k.Before, k.End, k.Now)
		case restore.UndoExpired:
			fmt.Fprintf(w, "expired %s: deleted by TTL in the window, not undone (--include-expired undoes it)\n", k.Key)
		default:
			fmt.Fprintf(w, "would %s %s: %s\n", k.Action, k.Key, k.Before)
		}
	}
	if n := int64(len(res.Undo.Listed)); res.Undo.Conflicts+res.Undo.Expired > n && !u.DryRun {
		fmt.Fprintf(w, "  (the first %d listed)\n", n)
	}
}

// afterLoad reports expired items, the write limit met, and what was set
// on a table created from a definition once the items were in.
func (v *restoreView) afterLoad(rep *restore.Report) {
	w := v.a.stderr
	if e := rep.Expiry; e != nil {
		fmt.Fprintf(w, "%d expired items skipped (TTL attribute %s before %s; DynamoDB would delete them again; --keep-expired loads them)\n",
			rep.Expired, e.Attr, e.Now.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "write rate limited by %s\n", limitText(rep))
	def := rep.Definition
	if !rep.Created || def == nil {
		return
	}
	printRecreated(w, rep.AfterLoad)
	if sp := def.StreamSpecification; sp == nil || !sp.StreamEnabled {
		fmt.Fprintf(w, "the recorded table had no stream, and the new table has none: enable one (and the stream writer's trigger) to back it up\n")
	}
}

// limitText says in words what bounded the write rate.
func limitText(rep *restore.Report) string {
	l := rep.Limit
	switch l.Kind {
	case restore.LimitTable:
		warm := "a new on-demand table starts at about 4,000 writes/s; --warm-write-units pre-warms it"
		if l.WarmWriteUnits > 0 {
			warm = fmt.Sprintf("created warm for %d writes/s", l.WarmWriteUnits)
		}
		return fmt.Sprintf("the table's throughput: %d throttled calls and %d unprocessed requests retried (%s)", rep.Throttled, rep.Unprocessed, warm)
	case restore.LimitMaxWCU:
		return fmt.Sprintf("--max-wcu %.0f (%.0f writes/s)", l.MaxWCU, l.Rate)
	}
	return fmt.Sprintf("this client, not the table (%.0f writes/s with --workers %d, no throttling): more --workers or --readers may go faster", l.Rate, l.Workers)
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
