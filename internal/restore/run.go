package restore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynasnap/dynasnap/internal/filter"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// TableAPI is every DynamoDB call a restore makes: preparing the table
// (describe, create, the emptiness check), writing, reading current items
// (a filtered --rewind or --key) and the settings set after the load.
// *dynamodb.Client has them; the unit tests fake them.
type TableAPI interface {
	BatchAPI
	GetAPI
	CondAPI
	CreateAPI
	ScanAPI
	tabledef.SettingsAPI
}

// Source is what a restore reads: *Snapshot, *Changes or *Versions.
type Source interface{ source() }

// Snapshot restores a snapshot (dynasnap's or an AWS export), data file by
// data file, with a checkpoint of finished files so a rerun resumes.
type Snapshot struct {
	Snapshot *snapshot.Snapshot
	Readers  int // data files read at once; default 4
	// Checkpoint is the checkpoint file ("": DefaultCheckpoint's, named
	// after the table, the snapshot and the filter). NoCheckpoint keeps
	// none: a scratch table is never resumed.
	Checkpoint   string
	NoCheckpoint bool
	Read         *progress.Counter // items read; optional
}

// Changes applies an incremental export to an existing table.
type Changes struct {
	Changes *snapshot.Changes
	Read    *progress.Counter // changes read; optional
}

// Versions restores straight from the backup's versions at Options.At.
// Schema, Filter, Live and (unless set) Expired are filled in by Restore.
type Versions struct {
	Source  history.Source
	Options VersionsOptions
	// Undo, if set, makes this restore --undo of its window (Options.At,
	// Rewind and Key are not used).
	Undo *Undo
	// HistoryWarnings are the lifecycle horizon's, from the caller's check
	// (docs/DESIGN.md §3): the summary carries them.
	HistoryWarnings []string
}

func (*Snapshot) source() {}
func (*Changes) source()  {}
func (*Versions) source() {}

// Options are the target table and how to write into it.
type Options struct {
	Table string
	// Create creates the table: as Definition records it, else with the key
	// only (KeySchema, or inferred from the items), on-demand. Warm
	// throughput and the other Overrides apply either way.
	Create bool
	// Overwrite writes into a table that already holds items.
	Overwrite bool
	// KeySchema is the key the caller gives (--key-schema): checked against
	// the table's or the definition's, used to create a key-only table.
	KeySchema *keyschema.Schema
	// Definition, if set, wins over the one the source records
	// (--table-definition); DefinitionFrom says where it came from.
	Definition     *tabledef.Definition
	DefinitionFrom string
	Overrides      tabledef.Overrides
	// KeepExpired loads items whose TTL time has passed.
	KeepExpired bool
	// Recreate is what a created table gets after the load beyond TTL,
	// tags, PITR, the stream, the resource policy and Contributor Insights:
	// auto scaling (with its client), replicas and Kinesis destinations
	// when asked; Region is the client's.
	Recreate tabledef.Recreate
	// Select is --where and --key-prefix (a bare prefix is one of the
	// table's partition key, known once the table is).
	Select filter.Options

	Workers          int     // BatchWriteItem requests in flight; default 32
	MaxWCU           float64 // write rate cap; 0: none
	Written, Deleted *progress.Counter

	// Prepared, if set, runs once the table is ready and before the first
	// write: the CLI says what was created and starts its progress line,
	// drill times the create and runs its hook.
	Prepared func(ctx context.Context, rep *Report) error
	// Now is the clock TTL times are compared with; default time.Now.
	Now func() time.Time
}

// Table is what preparing the target table found and did.
type Table struct {
	Name      string
	KeySchema keyschema.Schema
	// Created: the restore created the table, with CreateInput.
	Created     bool
	CreateInput *dynamodb.CreateTableInput
	// Definition is the table's: Options.Definition or the source's
	// recorded one, from DefinitionFrom; nil with DefinitionNote saying why.
	Definition     *tabledef.Definition
	DefinitionFrom string
	DefinitionNote string
	// Filter describes Options.Select ("": none).
	Filter string
	// Snapshot: the checkpoint file ("" none), and what an earlier run
	// finished if this one resumes it.
	Checkpoint   string
	Resumed      bool
	ResumedFiles int
	ResumedItems int64
}

// LimitKind names what bounded a restore's write rate.
type LimitKind string

const (
	// LimitTable: the table's throughput (throttling, unprocessed items).
	LimitTable LimitKind = "table"
	// LimitMaxWCU: the caller's cap (Options.MaxWCU).
	LimitMaxWCU LimitKind = "max-wcu"
	// LimitClient: this client (workers, readers), not the table.
	LimitClient LimitKind = "client"
)

// Limit is what bounded the write rate, and the figures that show it.
type Limit struct {
	Kind LimitKind
	Rate float64 // writes a second
	// WarmWriteUnits is the warm throughput the table was created with
	// (0: none, or not created here): with Kind table, what to raise.
	WarmWriteUnits int64
	// MaxWCU and Workers are the caller's cap and requests in flight.
	MaxWCU  float64
	Workers int
}

// Report is a restore's outcome: the table, what was written, what
// bounded it and what was set after the load.
type Report struct {
	Table
	*Result
	// Expiry is the TTL check items were held to (nil: none).
	Expiry *Expiry
	Limit  Limit
	// AfterLoad names what was set on a created table once the items were
	// in (TTL, tags, point-in-time recovery); AfterLoadErr is what failed
	// there: the items stay, the caller decides what it means.
	AfterLoad    tabledef.Applied
	AfterLoadErr error
	// ImportTable is the AWS CLI command that loads the same snapshot
	// server-side, with its notes: unfiltered JSON snapshots only.
	ImportTable string
	ImportNotes []string
	// The source restored: one of the four is set.
	Snapshot *SnapshotSummary
	Changes  *ChangesSummary
	Versions *VersionsSummary
	Undo     *UndoSummary
}

// RequestError is a restore asked for something the table rules out (a
// --key that is not the table's key): the caller's mistake, not a failure
// on the way.
type RequestError struct{ msg string }

func (e *RequestError) Error() string { return e.msg }

// Restore prepares the target table (it exists, or is created from the
// definition or with the key only; its key matches; it is empty unless
// Overwrite, a rewind or one key), writes src into it and, on a table it
// created, sets what CreateTable could not. The report is returned on
// every path, with as much as was done: its Result is nil if the restore
// stopped before its writers started (a failed preparation), set if the
// load was cut short.
func Restore(ctx context.Context, api TableAPI, src Source, opts Options) (*Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &run{api: api, opts: opts, rep: &Report{Table: Table{Name: opts.Table}}}
	r.w = &Writer{Client: api, Table: opts.Table, Workers: opts.Workers, MaxWCU: opts.MaxWCU, Written: opts.Written, Deleted: opts.Deleted}
	if r.w.Written == nil {
		r.w.Written = &progress.Counter{}
	}
	var err error
	switch s := src.(type) {
	case *Snapshot:
		err = r.snapshot(ctx, s)
	case *Changes:
		err = r.changes(ctx, s)
	case *Versions:
		err = r.versions(ctx, s)
	default:
		err = fmt.Errorf("restore from %T: not a source", src)
	}
	if r.rep.Result != nil {
		r.rep.Limit = r.limit(r.rep.Result)
	}
	return r.rep, err
}

type run struct {
	api  TableAPI
	opts Options
	w    *Writer
	rep  *Report
}

func (r *run) snapshot(ctx context.Context, src *Snapshot) error {
	s := src.Snapshot
	if err := CheckFormat(s); err != nil {
		return err
	}
	url, sel := s.Store.URL(""), r.opts.Select.String()
	r.rep.Snapshot = &SnapshotSummary{Snapshot: url, ExportTime: s.Summary.ExportTime}
	var cp *Checkpoint
	if !src.NoCheckpoint {
		path := src.Checkpoint
		var err error
		if path == "" {
			if path, err = DefaultCheckpoint(r.opts.Table, url, s.Summary.ExportTime, sel); err != nil {
				return err
			}
		}
		if cp, r.rep.Resumed, err = OpenFilteredCheckpoint(path, url, s.Summary.ExportTime, r.opts.Table, sel); err != nil {
			return err
		}
		r.rep.Checkpoint = path
		r.rep.ResumedFiles, r.rep.ResumedItems = cp.Finished()
	}
	var def *tabledef.Definition
	if r.opts.Definition == nil {
		var err error
		if def, err = s.Definition(ctx); err != nil {
			return err
		}
	}
	r.definition(def, s.Store.URL(snapshot.DefinitionName),
		fmt.Sprintf("snapshot %s holds no %s (taken from a backup that records no table definition: written before dynasnap recorded one, or by mapbox/dynamodb-replicator; or an AWS export)", url, snapshot.DefinitionName))
	ks, err := r.prepareTable(ctx, r.rep.Resumed, func() (keyschema.Schema, error) { return InferKeySchema(ctx, s, "") },
		func(ks keyschema.Schema) error { return CheckKeySchema(ctx, s, ks) })
	if err != nil {
		return err
	}
	match, err := r.filter(ks)
	if err != nil {
		return err
	}
	if !r.rep.Resumed {
		if err := r.checkEmpty(ctx); err != nil {
			return err
		}
	}
	// Filtered, how many items will be written is unknown: the total goes
	// with the items read.
	read := src.Read
	if read == nil {
		read = &progress.Counter{}
	}
	if left := s.Summary.ItemCount - r.rep.ResumedItems; match != nil {
		read.SetTotal(left)
	} else {
		r.w.Written.SetTotal(left)
	}
	r.rep.Expiry = r.expiry()
	if err := r.prepared(ctx); err != nil {
		return err
	}
	res, err := FromSnapshot(ctx, s, r.w, SnapshotOptions{Readers: src.Readers, Checkpoint: cp, Filter: match, Read: read, Expired: r.rep.Expiry})
	r.rep.Result = res
	if err != nil {
		if res != nil && errors.Is(err, snapshot.ErrDamaged) {
			// A rerun would stop at the same file: say so rather than
			// advise one.
			return fmt.Errorf("%w\n%d items written (from other data files) before the stop; the snapshot is damaged: restore from another snapshot, or take a new one", err, res.Puts)
		}
		if cp != nil && res != nil && (ctx.Err() != nil || res.Puts > 0) {
			return fmt.Errorf("%w\n%d items written before the stop; rerun the same command to resume from checkpoint %s", err, res.Puts, r.rep.Checkpoint)
		}
		return err
	}
	if cp != nil {
		if err := cp.Remove(); err != nil {
			return err
		}
	}
	r.afterLoad(ctx)
	// ImportTable reads DynamoDB JSON and Ion, not Parquet, and has no filter.
	if s.Summary.OutputFormat != "PARQUET" && match == nil {
		in, notes, err := r.importInput(ks)
		if err != nil {
			return fmt.Errorf("the items are restored into %s, but no ImportTable command can be made: %w", r.opts.Table, err)
		}
		r.rep.ImportTable, r.rep.ImportNotes = ImportTableCommand(s, in)
		r.rep.ImportNotes = append(notes, r.rep.ImportNotes...)
	}
	return nil
}

func (r *run) changes(ctx context.Context, src *Changes) error {
	c := src.Changes
	r.rep.Changes = &ChangesSummary{Changes: c.Store.URL(""), ExportFromTime: c.Summary.ExportFromTime.UTC().Format(time.RFC3339Nano),
		ExportToTime: c.Summary.ExportToTime.UTC().Format(time.RFC3339Nano)}
	ks, err := r.prepareTable(ctx, false, nil, nil)
	if err != nil {
		return err
	}
	match, err := r.filter(ks)
	if err != nil {
		return err
	}
	if err := r.prepared(ctx); err != nil {
		return err
	}
	res, err := FromChanges(ctx, src.Changes, r.w, ChangesOptions{Filter: match, Read: src.Read, KeySchema: &ks})
	r.rep.Result = res
	return err
}

func (r *run) versions(ctx context.Context, src *Versions) error {
	if src.Undo != nil {
		return r.undo(ctx, src)
	}
	opts := src.Options
	r.rep.Versions = &VersionsSummary{Source: opts.Source.String(), At: opts.At.UTC(), Rewind: opts.Rewind, HistoryWarnings: src.HistoryWarnings}
	if r.opts.Definition == nil && opts.Key == nil {
		// The definition at At by the items' time rule, once the listing
		// may start (docs/DESIGN.md §3). One key goes into an existing
		// table (--key never creates one): no definition is needed.
		if err := history.Wait(ctx, opts.At, opts.ClockSkew); err != nil {
			return err
		}
		rec, err := tabledef.At(ctx, src.Source, opts.Source, opts.At)
		if err != nil {
			return err
		}
		r.definition(rec.Def, fmt.Sprintf("s3://%s/%s version %s", opts.Source.Bucket, rec.Key, rec.From.VersionID), rec.Missing(opts.Source, opts.At))
	} else {
		r.definition(nil, "", "")
	}
	plain := opts.Key == nil && !opts.Rewind
	ks, err := r.prepareTable(ctx, false, func() (keyschema.Schema, error) { return InferFromBackup(ctx, src.Source, opts.Source) }, nil)
	if err != nil {
		return err
	}
	opts.Schema, opts.Live = ks, r.api
	if opts.Filter, err = r.filter(ks); err != nil {
		return err
	}
	if opts.Key != nil {
		if err := checkKey(opts.Key, ks); err != nil {
			return err
		}
	}
	if plain {
		if opts.Expired == nil {
			opts.Expired = r.expiry()
		}
		r.rep.Expiry = opts.Expired
		if err := r.checkEmpty(ctx); err != nil {
			return err
		}
	}
	if err := r.prepared(ctx); err != nil {
		return err
	}
	res, err := FromVersions(ctx, src.Source, r.w, opts)
	r.rep.Result = res
	if err != nil {
		return err
	}
	r.afterLoad(ctx)
	return nil
}

// undo runs restore --undo on a live table: no definition, no creation,
// no emptiness check, nothing set after.
func (r *run) undo(ctx context.Context, src *Versions) error {
	opts, un := src.Options, src.Undo
	r.rep.Undo = &UndoSummary{From: un.From.UTC(), To: un.To.UTC(), DryRun: un.DryRun}
	// The state put back is the one just before From.
	r.rep.Versions = &VersionsSummary{Source: opts.Source.String(), At: un.From.UTC(), HistoryWarnings: src.HistoryWarnings}
	r.definition(nil, "", "")
	if r.opts.Create {
		return &RequestError{"--undo works on an existing table: drop --create-table"}
	}
	ks, err := r.prepareTable(ctx, false, nil, nil)
	if err != nil {
		return err
	}
	opts.Schema, opts.Live = ks, r.api
	if opts.Filter, err = r.filter(ks); err != nil {
		return err
	}
	if err := r.prepared(ctx); err != nil {
		return err
	}
	res, err := fromUndo(ctx, src.Source, undoOptions{Undo: *un, VersionsOptions: opts, API: r.api, Table: r.opts.Table, MaxWCU: r.opts.MaxWCU,
		Written: r.w.Written, Deleted: r.w.Deleted})
	r.rep.Result = res
	return err
}

// checkKey refuses a --key that does not name exactly the table's key.
func checkKey(key item.Item, ks keyschema.Schema) error {
	if len(key) != len(ks.Names()) {
		return &RequestError{fmt.Sprintf("--key must hold exactly the table's key attributes (%s)", ks)}
	}
	for _, n := range ks.Names() {
		if _, ok := key[n]; !ok {
			return &RequestError{fmt.Sprintf("--key has no attribute %q; the table's key is %s", n, ks)}
		}
	}
	return nil
}

func (r *run) prepared(ctx context.Context) error {
	if r.opts.Prepared == nil {
		return nil
	}
	return r.opts.Prepared(ctx, r.rep)
}

// filter builds Select once the table's key is known (a bare --key-prefix
// is a prefix of its partition key).
func (r *run) filter(ks keyschema.Schema) (func(item.Item) (bool, error), error) {
	match, desc, err := r.opts.Select.Build(func() (string, error) { return ks.Hash.Name, nil })
	r.rep.Filter = desc
	return match, err
}

// limit names what bounded the write rate: the table (throttling), the
// MaxWCU cap (within a fifth of it), or this client.
func (r *run) limit(res *Result) Limit {
	l := Limit{Kind: LimitClient, Rate: float64(res.Puts+res.Deletes) / max(res.Elapsed.Seconds(), 1e-9), MaxWCU: r.opts.MaxWCU, Workers: r.w.Workers}
	switch {
	case res.Throttled > 0 || res.Unprocessed > 0:
		l.Kind = LimitTable
		if in := r.rep.CreateInput; in != nil && in.WarmThroughput != nil && in.WarmThroughput.WriteUnitsPerSecond != nil {
			l.WarmWriteUnits = *in.WarmThroughput.WriteUnitsPerSecond
		}
	case r.opts.MaxWCU > 0 && l.Rate >= 0.8*r.opts.MaxWCU:
		l.Kind = LimitMaxWCU
	}
	return l
}
