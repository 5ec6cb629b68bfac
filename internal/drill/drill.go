// Package drill is the automated disaster-recovery test: restore a snapshot
// into a scratch table with a unique name, verify the table against the
// snapshot, delete the table whatever happened, and measure the recovery
// point (how old the data is that a restore brings back) and the recovery
// time (how long the restore takes), against optional budgets.
package drill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/restore"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/tabledef"
	"github.com/dynasnap/dynasnap/internal/verify"
)

// DefaultTablePrefix starts every scratch table's name, so that a leftover
// one is easy to find (and to forbid in IAM outside the drill's role).
const DefaultTablePrefix = "dynasnap-drill"

// Options configure a drill.
type Options struct {
	DynamoDB    *dynamodb.Client
	TablePrefix string            // default DefaultTablePrefix
	KeySchema   *keyschema.Schema // default: the recorded definition's, else inferred from the snapshot
	// Definition is the table to create (default: the snapshot's
	// table-definition.json; without one, the key only, on-demand).
	Definition *tabledef.Definition
	// Overrides change the recorded definition (billing mode, KMS key,
	// table class, warm throughput); scratch tables never get deletion
	// protection.
	Overrides tabledef.Overrides
	// KeepExpired loads items whose TTL time has passed.
	KeepExpired bool
	// Scaling is the Application Auto Scaling client the scratch table's
	// auto scaling is recreated, compared and removed with (nil: skipped).
	Scaling interface {
		tabledef.ScalingAPI
		tabledef.ScalingCleanupAPI
	}
	// Replicas and KinesisDestinations recreate those too (--replicas,
	// --kinesis-destinations); the replicas are deleted with the table.
	Replicas, KinesisDestinations bool
	// Lambda reads the scratch table's stream triggers for the comparison
	// (the drill never creates any: a scratch table is not backed up).
	Lambda   tabledef.LambdaReadAPI
	Workers  int     // BatchWriteItem requests in flight; default 32
	MaxWCU   float64 // write rate cap; 0: none
	Readers  int     // snapshot data files read at once; default 4
	Segments int     // verify's parallel Scan segments; default 8
	// MaxRPO and MaxRTO are the budgets; 0 means none.
	MaxRPO, MaxRTO time.Duration
	// KeepTable leaves the scratch table in place, for a look after a
	// failure; the report names it.
	KeepTable bool
	// DeleteTimeout bounds deleting the scratch table, which runs on a
	// context of its own so an interrupt cannot skip it; default 10m.
	DeleteTimeout time.Duration
	// Log is told as each step starts and ends, and of warnings; nil:
	// silent.
	Log Logger
	// Progress counters, optional.
	Written, Read, Scanned *progress.Counter
	// Now is the clock the recovery point is measured with; default time.Now.
	Now func() time.Time

	// AfterCreate and AfterRestore, if set, run once the scratch table
	// exists and once the restore is done: tests use them to interrupt a
	// drill or to tamper with the table before it is verified.
	AfterCreate, AfterRestore func(ctx context.Context, table string) error
}

// Span is a duration as a number, for monitoring, and as text, for people.
type Span struct {
	Seconds float64 `json:"seconds"`
	Human   string  `json:"human"`
}

// SpanOf makes a Span of d, rounded for people to milliseconds, or to
// seconds from a minute up.
func SpanOf(d time.Duration) Span {
	r := time.Millisecond
	if d >= time.Minute || d <= -time.Minute {
		r = time.Second
	}
	return Span{Seconds: d.Seconds(), Human: d.Round(r).String()}
}

func spanPtr(d time.Duration) *Span { s := SpanOf(d); return &s }

// RecoveryPoint is how much would be lost restoring this snapshot now.
type RecoveryPoint struct {
	// The total: now minus the newest backup version the snapshot holds
	// (DataLag + SnapshotAge); the snapshot's age when that is unknown.
	Span
	// DataLag is the snapshot time minus the newest version at or before
	// it: how far behind the backup was when the snapshot was taken. Null
	// when the snapshot has no sidecar (an AWS export) or no item.
	DataLag *Span `json:"dataLag"`
	// SnapshotAge is now minus the snapshot time.
	SnapshotAge Span  `json:"snapshotAge"`
	Budget      *Span `json:"budget"`
	Exceeded    bool  `json:"exceeded"`
}

// RecoveryTime is how long bringing the table back took.
type RecoveryTime struct {
	// The total: creating the table plus the restore.
	Span
	CreateTable    Span    `json:"createTable"`
	Restore        Span    `json:"restore"`
	ItemsRestored  int64   `json:"itemsRestored"`
	ItemsPerSecond float64 `json:"itemsPerSecond"`
	Budget         *Span   `json:"budget"`
	Exceeded       bool    `json:"exceeded"`
}

// ScratchTable is what became of the table the drill restored into.
type ScratchTable struct {
	Name      string `json:"name"`
	KeySchema string `json:"keySchema"`
	Created   bool   `json:"created"`
	Deleted   bool   `json:"deleted"`
	Kept      bool   `json:"kept"` // --keep-table: left for a look
	Delete    *Span  `json:"delete,omitempty"`
	// Recreated and NotRecreated are the settings set after the load, and
	// those skipped with the reason.
	Recreated    []string `json:"recreated,omitempty"`
	NotRecreated []string `json:"notRecreated,omitempty"`
}

// Report is a drill's outcome; Run returns one on every path, so a failed
// drill can still be reported to monitoring.
type Report struct {
	// undo removes the scratch table's replicas and scalable targets.
	undo     func(context.Context) error
	Passed   bool     `json:"passed"`
	Failures []string `json:"failures"`
	// Differs: the restored table did not equal the snapshot.
	Differs bool `json:"differs"`
	// OverBudget: the recovery point or time exceeded its budget.
	OverBudget bool `json:"overBudget"`

	Snapshot      string     `json:"snapshot"`
	Source        string     `json:"source,omitempty"`
	SnapshotTime  time.Time  `json:"snapshotTime"`
	SnapshotItems int64      `json:"snapshotItems"`
	NewestVersion *time.Time `json:"newestVersion"`
	StartTime     time.Time  `json:"startTime"`

	Table         ScratchTable   `json:"scratchTable"`
	RecoveryPoint RecoveryPoint  `json:"recoveryPoint"`
	RecoveryTime  *RecoveryTime  `json:"recoveryTime"` // null if the restore did not finish
	VerifyTime    *Span          `json:"verifyTime"`
	Verify        *verify.Report `json:"verify"`
	Elapsed       Span           `json:"elapsed"`

	// OtherScratchTables had the drill's prefix when it started: left by
	// a drill killed outright, or one running at the same time.
	OtherScratchTables []string `json:"otherScratchTables,omitempty"`

	// Set by the command: how long taking the snapshot took (--source),
	// and the unfinished snapshot folders passed over (--snapshots).
	SnapshotTaken *Span `json:"snapshotTaken,omitempty"`
	// ExpiredSkipped counts items not loaded because their TTL time had
	// passed (the recorded TTL attribute; --keep-expired loads them).
	ExpiredSkipped    int64    `json:"expiredSkipped"`
	UnfinishedSkipped []string `json:"unfinishedSkipped,omitempty"`
	// HistoryHorizon is how far back the snapshot's backup answers
	// exactly, under its bucket's lifecycle rules (docs/DESIGN.md §3).
	HistoryHorizon *HistoryHorizon `json:"historyHorizon,omitempty"`
}

// HistoryHorizon is the backup's lifecycle horizon, as the drill reports
// it beside the recovery point.
type HistoryHorizon struct {
	// OldestExactTime is the oldest time a snapshot or restore can be
	// exact at; null: no lifecycle rule bounds it (or it is unknown).
	OldestExactTime *time.Time `json:"oldestExactTime"`
	Rule            string     `json:"rule,omitempty"`
	// Limits are the rules that make some times inexact, in words.
	Limits   []string `json:"limits"`
	Warnings []string `json:"warnings"`
}

func (r *Report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

func (o *Options) defaults() {
	if o.TablePrefix == "" {
		o.TablePrefix = DefaultTablePrefix
	}
	if o.DeleteTimeout <= 0 {
		o.DeleteTimeout = 10 * time.Minute
	}
	if o.Log == nil {
		o.Log = discard{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for _, c := range []**progress.Counter{&o.Written, &o.Read, &o.Scanned} {
		if *c == nil {
			*c = &progress.Counter{}
		}
	}
}

// CheckTablePrefix refuses a prefix that cannot start a DynamoDB table
// name, before anything runs.
func CheckTablePrefix(p string) error {
	if len(p) > 200 {
		return fmt.Errorf("table prefix %q is longer than 200 characters", p)
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_.-", c)) {
			return fmt.Errorf("table prefix %q: a table name holds only letters, digits, '_', '-' and '.'", p)
		}
	}
	return nil
}

// TableName is a scratch table's name: the prefix, the time in UTC and a
// random suffix, so two drills started in the same second do not collide.
func TableName(prefix string, now time.Time) string {
	b := make([]byte, 3)
	rand.Read(b)
	return fmt.Sprintf("%s-%s-%s", prefix, now.UTC().Format("20060102T150405"), hex.EncodeToString(b))
}

// Run drills the snapshot s. The scratch table is deleted on every path,
// including a cancelled ctx (with a context of its own, bounded by
// DeleteTimeout); a table that could not be deleted is an error that names
// it. err is what stopped the drill (or the failed delete); a difference
// or an exceeded budget is not an error but a failure in the report.
func Run(ctx context.Context, s *snapshot.Snapshot, opts Options) (rep *Report, err error) {
	opts.defaults()
	start := opts.Now()
	rep = &Report{Snapshot: s.Store.URL(""), Source: s.Summary.Dynasnap.Source, SnapshotTime: s.Summary.ExportTime.UTC(),
		SnapshotItems: s.Summary.ItemCount, StartTime: start.UTC(), Failures: []string{}}
	defer func() {
		if err != nil {
			rep.fail("%v", err)
		}
		rep.Passed = len(rep.Failures) == 0
		rep.Elapsed = SpanOf(opts.Now().Sub(start))
	}()
	if err := restore.CheckFormat(s); err != nil {
		return rep, err
	}

	// The recovery point comes first: it needs only the sidecars.
	newest, ok, err := s.NewestVersion(ctx, opts.Readers)
	if err != nil {
		return rep, fmt.Errorf("find the newest backup version in snapshot %s: %w", rep.Snapshot, err)
	}
	rep.RecoveryPoint = recoveryPoint(s.Summary.ExportTime, newest, ok, start, opts.MaxRPO)
	if ok {
		t := newest.UTC()
		rep.NewestVersion = &t
	}
	if rp := rep.RecoveryPoint; rp.Exceeded {
		rep.OverBudget = true
		rep.fail("recovery point %s is over the budget of %s (--max-rpo): newest backup version %s, snapshot at %s",
			rp.Human, rp.Budget.Human, fmtTime(rep.NewestVersion), rep.SnapshotTime.Format(time.RFC3339))
	}

	def := opts.Definition
	if def == nil {
		if def, err = s.Definition(ctx); err != nil {
			return rep, err
		}
	}
	// Tables an earlier drill could not delete (it was killed outright)
	// are reported, not deleted: a drill running now has the same prefix.
	// Looking needs ListTables on every table, which a tight role may lack:
	// that costs the warning, not the drill.
	others, err := ScratchTables(ctx, opts.DynamoDB, opts.TablePrefix)
	if err != nil {
		if ctx.Err() != nil {
			return rep, err
		}
		opts.Log.Warnf("could not look for scratch tables left by earlier drills: %v", err)
	}
	rep.OtherScratchTables = others
	for _, o := range others {
		opts.Log.Warnf("scratch table %s exists: left by an earlier drill that was killed, or one running now", o)
	}
	table := TableName(opts.TablePrefix, start)
	rep.Table = ScratchTable{Name: table}
	// A name that is taken belongs to someone else: never delete it.
	if _, err := keyschema.FromTable(ctx, opts.DynamoDB, table); !errors.Is(err, keyschema.ErrNoTable) {
		if err == nil {
			err = fmt.Errorf("scratch table %s exists already; it is not the drill's, so it is left alone", table)
		}
		return rep, err
	}
	// From here the table may exist (a CreateTable cut short by an
	// interrupt may still have reached DynamoDB), so the delete is
	// deferred before the create.
	defer func() {
		if derr := cleanup(ctx, opts, rep); derr != nil {
			err = errors.Join(err, derr)
		}
	}()

	// restore.Restore prepares the table as a restore --create-table does
	// (the recorded definition, else the key only; the overrides, warm
	// throughput included, either way), then loads the snapshot.
	o := opts.Overrides
	o.NoDeletionProtection = true
	ro := restore.Options{Table: table, Create: true, KeySchema: opts.KeySchema, Overrides: o, KeepExpired: opts.KeepExpired,
		Workers: opts.Workers, MaxWCU: opts.MaxWCU, Written: opts.Written, Now: opts.Now,
		Recreate: tabledef.Recreate{Replicas: opts.Replicas, KinesisDestinations: opts.KinesisDestinations, Region: opts.DynamoDB.Options().Region,
			NoTriggers: "a scratch table is not backed up"}}
	if opts.Scaling != nil {
		ro.Recreate.Scaling = opts.Scaling
	}
	if def != nil {
		// TTL and tags as a restore sets them, so the definition compares;
		// point-in-time recovery is left off (it is billed).
		d := *def
		d.PointInTimeRecovery = nil
		ro.Definition, ro.DefinitionFrom = &d, s.Store.URL(snapshot.DefinitionName)
	}
	opts.Log.Printf("creating scratch table %s", table)
	t0 := time.Now()
	var createTime time.Duration
	ro.Prepared = func(ctx context.Context, r *restore.Report) error {
		createTime = time.Since(t0)
		opts.Log.Printf("created scratch table %s: %s", table, createdAs(r))
		if opts.AfterCreate != nil {
			if err := opts.AfterCreate(ctx, table); err != nil {
				return err
			}
		}
		opts.Log.Printf("restoring %s (%d items, at %s) into %s", rep.Snapshot, rep.SnapshotItems, rep.SnapshotTime.Format(time.RFC3339), table)
		return nil
	}
	rr, err := restore.Restore(ctx, opts.DynamoDB, &restore.Snapshot{Snapshot: s, Readers: opts.Readers, NoCheckpoint: true}, ro)
	rep.Table.Created = rr.Created
	rep.Table.Recreated, rep.Table.NotRecreated = rr.AfterLoad.Done, rr.AfterLoad.Skipped
	if ro.Definition != nil {
		rep.undo = func(ctx context.Context) error {
			var sc tabledef.ScalingCleanupAPI
			if opts.Scaling != nil {
				sc = opts.Scaling
			}
			return tabledef.Undo(ctx, opts.DynamoDB, sc, table, ro.Definition, rr.AfterLoad, opts.DeleteTimeout)
		}
	}
	if rr.KeySchema.Hash.Name != "" {
		rep.Table.KeySchema = rr.KeySchema.String()
	}
	if err != nil {
		if rr.Result == nil {
			return rep, err
		}
		return rep, fmt.Errorf("restore into scratch table %s: %w", table, err)
	}
	res, expiry, ks := rr.Result, rr.Expiry, rr.KeySchema
	rep.ExpiredSkipped = res.Expired
	if rr.AfterLoadErr != nil {
		rep.fail("scratch table %s: %v", table, rr.AfterLoadErr)
	}
	rep.RecoveryTime = recoveryTime(createTime, res, opts.MaxRTO)
	if rt := rep.RecoveryTime; rt.Exceeded {
		rep.OverBudget = true
		rep.fail("recovery time %s is over the budget of %s (--max-rto): table created in %s, %d items restored in %s (%.0f items/s)",
			rt.Human, rt.Budget.Human, rt.CreateTable.Human, rt.ItemsRestored, rt.Restore.Human, rt.ItemsPerSecond)
	}
	if opts.AfterRestore != nil {
		if err := opts.AfterRestore(ctx, table); err != nil {
			return rep, err
		}
	}

	opts.Log.Printf("verifying %s against the snapshot", table)
	opts.Read.SetTotal(s.Summary.ItemCount)
	t0 = time.Now()
	vr, err := verify.Run(ctx, s, opts.DynamoDB, verify.Options{Table: table, Schema: ks, Segments: opts.Segments,
		Readers: opts.Readers, Read: opts.Read, Scanned: opts.Scanned, Expired: expiry.Item})
	if err != nil {
		return rep, fmt.Errorf("verify scratch table %s: %w", table, err)
	}
	rep.VerifyTime = spanPtr(time.Since(t0))
	rep.Verify = vr
	if !vr.Equal() {
		rep.Differs = true
		rep.fail("the restored table differs from the snapshot: %d missing, %d extra, %d different%s",
			vr.Missing, vr.Extra, vr.Different, examples(vr))
	}
	if def != nil {
		dr, err := verify.Definition(ctx, opts.DynamoDB, tabledef.Services{Scaling: scalingReader(opts), Lambda: opts.Lambda}, table, def)
		if err != nil {
			return rep, fmt.Errorf("compare scratch table %s with the recorded definition: %w", table, err)
		}
		if dr.IndexesRead, err = readIndexes(ctx, opts.DynamoDB, table, def); err != nil {
			rep.fail("%v", err)
		}
		vr.Definition = dr
		if !dr.Equal() {
			rep.Differs = true
			rep.fail("the restored table's definition differs from the recorded one: %s", strings.Join(dr.Differences, "; "))
		}
	}
	return rep, nil
}

// readIndexes reads one item through every secondary index, once each
// GSI is ACTIVE, so an index that cannot be queried fails the drill.
func readIndexes(ctx context.Context, client *dynamodb.Client, table string, def *tabledef.Definition) ([]string, error) {
	if err := tabledef.WaitIndexes(ctx, client, table, 30*time.Minute); err != nil {
		return nil, err
	}
	var names []string
	for _, g := range def.GlobalSecondaryIndexes {
		names = append(names, g.IndexName)
	}
	for _, l := range def.LocalSecondaryIndexes {
		names = append(names, l.IndexName)
	}
	var read []string
	for _, n := range names {
		if _, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), IndexName: aws.String(n), Limit: aws.Int32(1)}); err != nil {
			return read, fmt.Errorf("read index %s of scratch table %s: %w", n, table, err)
		}
		read = append(read, n)
	}
	return read, nil
}

func recoveryPoint(snapTime, newest time.Time, newestKnown bool, now time.Time, budget time.Duration) RecoveryPoint {
	age := now.Sub(snapTime)
	rp := RecoveryPoint{Span: SpanOf(age), SnapshotAge: SpanOf(age)}
	if newestKnown {
		rp.DataLag = spanPtr(snapTime.Sub(newest))
		rp.Span = SpanOf(now.Sub(newest))
	}
	if budget > 0 {
		rp.Budget = spanPtr(budget)
		rp.Exceeded = rp.Seconds > budget.Seconds()
	}
	return rp
}

func recoveryTime(create time.Duration, res *restore.Result, budget time.Duration) *RecoveryTime {
	rt := &RecoveryTime{Span: SpanOf(create + res.Elapsed), CreateTable: SpanOf(create), Restore: SpanOf(res.Elapsed),
		ItemsRestored: res.Puts}
	if s := res.Elapsed.Seconds(); s > 0 {
		rt.ItemsPerSecond = float64(res.Puts) / s
	}
	if budget > 0 {
		rt.Budget = spanPtr(budget)
		rt.Exceeded = rt.Seconds > budget.Seconds()
	}
	return rt
}

// examples names the first keys of each kind of difference.
func examples(vr *verify.Report) string {
	var parts []string
	for _, g := range []struct {
		name string
		keys []string
	}{{"missing", vr.MissingKeys}, {"extra", vr.ExtraKeys}, {"different", vr.DifferentKeys}} {
		if len(g.keys) > 0 {
			parts = append(parts, g.name+": "+strings.Join(g.keys, ", "))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}

// createdAs says how the scratch table was created.
func createdAs(r *restore.Report) string {
	in := r.CreateInput
	what := fmt.Sprintf("as recorded (key %s, %s, %d global and %d local secondary indexes", r.KeySchema, in.BillingMode,
		len(in.GlobalSecondaryIndexes), len(in.LocalSecondaryIndexes))
	if r.Definition == nil {
		what = fmt.Sprintf("(key %s, on-demand; the snapshot records no table definition", r.KeySchema)
	}
	if w := in.WarmThroughput; w != nil && w.WriteUnitsPerSecond != nil {
		what += fmt.Sprintf("; warm for %d writes/s", *w.WriteUnitsPerSecond)
	}
	return what + ")"
}

// scalingReader is opts.Scaling as a reader, a nil interface when unset.
func scalingReader(opts Options) tabledef.ScalingReadAPI {
	if opts.Scaling == nil {
		return nil
	}
	return opts.Scaling
}
