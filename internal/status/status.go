// Package status reads, for every table under a backup prefix, how its
// backup stands: the newest change written and its lag, the history's
// horizon, the newest snapshot, the newest drill and audit results, the
// definition's newest version; and checks them against thresholds
// (`dynasnap status`, docs/DESIGN.md §11). Every column has a bounded cost
// in requests; none lists a table's whole history.
package status

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/awserr"
	"github.com/dynasnap/dynasnap/internal/enroll"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// S3API is every S3 call status makes: all reads.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	GetBucketLifecycleConfiguration(ctx context.Context, in *s3.GetBucketLifecycleConfigurationInput, opts ...func(*s3.Options)) (*s3.GetBucketLifecycleConfigurationOutput, error)
}

// Thresholds are what a table must meet; zero turns a check off.
type Thresholds struct {
	// MaxLag: the newest change written is at most this old (the recovery
	// point a team promises). A table idle for longer breaks it too: the
	// bucket cannot tell an idle table from a stopped writer.
	MaxLag time.Duration `json:"maxLag"`
	// MaxSnapshotAge: the newest finished snapshot is at most this old; a
	// table never snapshotted breaks it.
	MaxSnapshotAge time.Duration `json:"maxSnapshotAge"`
	// MaxDrillAge: the newest drill result is at most this old and passed;
	// a table never drilled breaks it. MaxAuditAge likewise for audits.
	MaxDrillAge time.Duration `json:"maxDrillAge"`
	MaxAuditAge time.Duration `json:"maxAuditAge"`
	// MaxFailures: the writer's failure queue holds at most this many
	// messages (-1: not checked).
	MaxFailures int `json:"maxFailures"`
}

// Options say where to look.
type Options struct {
	// Backups is s3://BUCKET/PREFIX: its folders are the tables.
	Backups layout.Location
	// Tables, if set, are the only tables reported (else every folder).
	Tables []string
	// Snapshots is the root of the fleet's snapshots: a table's are the
	// folders ROOT/TABLE/<name>/ (DefaultSnapshots).
	Snapshots layout.Location
	// Results is the root of the jobs' results: ROOT/TABLE/drill.json and
	// ROOT/TABLE/audit.json (DefaultResults).
	Results layout.Location
	// ItemPages bounds the listing of a per-item backup's versions (1,000
	// versions a page): past it, the newest change is a lower bound.
	ItemPages int
	// Concurrency is the tables read at once.
	Concurrency int
	Thresholds  Thresholds
	Now         time.Time
	// FailureQueue, if set, reads the writer's failure queue depth (the
	// SQS dead-letter queue of the stack); it is one for the fleet.
	FailureQueue func(ctx context.Context) (int, error)
	// S3For returns the client for another bucket (snapshots or results
	// elsewhere); nil: the backups' client.
	S3For func(ctx context.Context, bucket string) (S3API, error)
}

// The sibling folders of the fleet's snapshots and results, beside the
// backup prefix and never inside it (nothing but the writers write there,
// docs/DESIGN.md §2.5): s3://BUCKET/PREFIX.dynasnap-snapshots/TABLE/ and
// s3://BUCKET/PREFIX.dynasnap-results/TABLE/. An empty PREFIX gives the
// top-level folders dynasnap-snapshots/ and dynasnap-results/, which are
// then never taken for tables.
const (
	SnapshotsSuffix = ".dynasnap-snapshots"
	ResultsSuffix   = ".dynasnap-results"
	DrillResult     = "drill.json"
	AuditResult     = "audit.json"
)

// DefaultSnapshots is the snapshots root beside backups.
func DefaultSnapshots(backups layout.Location) layout.Location {
	return sibling(backups, SnapshotsSuffix)
}

// DefaultResults is the results root beside backups.
func DefaultResults(backups layout.Location) layout.Location {
	return sibling(backups, ResultsSuffix)
}

func sibling(l layout.Location, suffix string) layout.Location {
	if l.Prefix == "" {
		return layout.Location{Bucket: l.Bucket, Prefix: strings.TrimPrefix(suffix, ".")}
	}
	return layout.Location{Bucket: l.Bucket, Prefix: l.Prefix + suffix}
}

// ResultKey is where a job's result for table is stored under results.
func ResultKey(results layout.Location, table, name string) string {
	return results.Child(table).Key(name)
}

// Report is the fleet's status.
type Report struct {
	Backups    string        `json:"backups"`
	Snapshots  string        `json:"snapshots"`
	Results    string        `json:"results"`
	Now        time.Time     `json:"now"`
	Thresholds Thresholds    `json:"thresholds"`
	Failures   *QueueDepth   `json:"failureQueue"`
	Tables     []TableStatus `json:"tables"`
	// Broken counts the tables that break a threshold or could not be read.
	Broken int `json:"broken"`
}

// QueueDepth is the writer's failure queue.
type QueueDepth struct {
	Messages *int   `json:"messages"` // null: unreadable
	Error    string `json:"error,omitempty"`
}

// TableStatus is one table's line.
type TableStatus struct {
	Table  string `json:"table"`
	Layout string `json:"layout"` // "items", "journal" or "empty"
	// NewestChange is when the newest change was stored (S3 time); Lag is
	// Now minus it. NewestExact is false when the per-item listing stopped
	// at its budget (NewestChange is then the newest of the versions seen,
	// a lower bound), or for a journal whose segments are all compacted
	// (the end of the newest output holding records, an upper bound).
	NewestChange *time.Time `json:"newestChange"`
	Lag          *Duration  `json:"lag"`
	NewestExact  bool       `json:"newestExact"`
	// Horizon is the oldest time the history answers exactly (lifecycle
	// rules; for a journal the first base if later); null: unbounded.
	Horizon     *time.Time `json:"horizon"`
	HorizonRule string     `json:"horizonRule,omitempty"`
	// Snapshot is the newest finished snapshot under the snapshots root.
	Snapshot     string     `json:"snapshot,omitempty"`
	SnapshotTime *time.Time `json:"snapshotTime"`
	SnapshotAge  *Duration  `json:"snapshotAge"`
	Drill        *Result    `json:"drill"`
	Audit        *Result    `json:"audit"`
	// Definition is when the newest version of the table's definition
	// was recorded (§2.8).
	Definition *time.Time `json:"definition"`
	// Enrolment is what the enroller last made of the table
	// (RESULTS/TABLE/enrolment.json); null: never enrolled by tag.
	Enrolment *enroll.Record `json:"enrolment"`
	// Breaks are the thresholds broken, in words; Errors what could not
	// be read (a table with either counts as broken).
	Breaks []string `json:"breaks"`
	Errors []string `json:"errors"`
}

// Result is a job's newest result for a table.
type Result struct {
	Key    string    `json:"key"`
	Time   time.Time `json:"time"`
	Passed bool      `json:"passed"`
	Age    Duration  `json:"age"`
	// Failures are the result's reasons, as the job wrote them.
	Failures []string `json:"failures,omitempty"`
}

// Duration is a time.Duration written as Go's text (1h2m3s) in JSON, with
// seconds beside it for scripts.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"text":%q,"seconds":%d}`, time.Duration(d).Round(time.Second).String(), int64(time.Duration(d)/time.Second)), nil
}

// Run reads the status of every table under o.Backups.
func Run(ctx context.Context, client S3API, o Options) (*Report, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC()
	if o.ItemPages <= 0 {
		o.ItemPages = DefaultItemPages
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Snapshots.Bucket == "" {
		o.Snapshots = DefaultSnapshots(o.Backups)
	}
	if o.Results.Bucket == "" {
		o.Results = DefaultResults(o.Backups)
	}
	r := &Report{Backups: o.Backups.String(), Snapshots: o.Snapshots.String(), Results: o.Results.String(), Now: o.Now, Thresholds: o.Thresholds}
	tables := o.Tables
	if len(tables) == 0 {
		var err error
		if tables, err = ListTables(ctx, client, o.Backups); err != nil {
			return nil, err
		}
	}
	rules, ruleErr := lifecycle(ctx, client, o.Backups.Bucket)
	snapClient, err := clientFor(ctx, o, client, o.Snapshots.Bucket)
	if err != nil {
		return nil, err
	}
	resClient, err := clientFor(ctx, o, client, o.Results.Bucket)
	if err != nil {
		return nil, err
	}
	if len(o.Tables) == 0 {
		// Tables the enroller recorded but that have no backup (tagged
		// but unavailable) are listed too: one more listing.
		withResults, err := listFolders(ctx, resClient, o.Results)
		if err != nil {
			return nil, err
		}
		tables = append(tables, withResults...)
		slices.Sort(tables)
		tables = slices.Compact(tables)
	}
	if o.FailureQueue != nil {
		q := &QueueDepth{}
		if n, err := o.FailureQueue(ctx); err != nil {
			q.Error = err.Error()
		} else {
			q.Messages = &n
		}
		r.Failures = q
	}
	r.Tables = make([]TableStatus, len(tables))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for i, t := range tables {
		g.Go(func() error {
			ts := TableStatus{Table: t, Breaks: []string{}, Errors: []string{}}
			rd := reader{o: o, s3: client, snaps: snapClient, results: resClient, ts: &ts}
			rd.read(gctx, rules, ruleErr)
			if err := gctx.Err(); err != nil {
				return err
			}
			r.Tables[i] = ts
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i := range r.Tables {
		ts := &r.Tables[i]
		ts.check(o.Thresholds)
		released := ts.Enrolment != nil && ts.Enrolment.State == enroll.StateReleased
		if !released && r.Failures != nil && o.Thresholds.MaxFailures >= 0 && r.Failures.Messages != nil && *r.Failures.Messages > o.Thresholds.MaxFailures {
			// The queue is the fleet's: every table may have lost a change.
			ts.Breaks = append(ts.Breaks, fmt.Sprintf("the writer's failure queue holds %d messages (over %d)", *r.Failures.Messages, o.Thresholds.MaxFailures))
		}
		if len(ts.Breaks) > 0 || len(ts.Errors) > 0 {
			r.Broken++
		}
	}
	return r, nil
}

// DefaultItemPages is the per-item listing budget: 20 pages, 20,000
// versions, 20 requests a table.
const DefaultItemPages = 20

func clientFor(ctx context.Context, o Options, def S3API, bucket string) (S3API, error) {
	if o.S3For == nil || bucket == o.Backups.Bucket {
		return def, nil
	}
	return o.S3For(ctx, bucket)
}

// ListTables lists the table folders under backups: one ListObjectsV2 with
// a delimiter per 1,000 tables. The fleet's sibling folders are left out.
func ListTables(ctx context.Context, client S3API, backups layout.Location) ([]string, error) {
	return listFolders(ctx, client, backups)
}

// listFolders lists the folders directly under loc (the fleet's sibling
// folders left out where loc is a bucket's top).
func listFolders(ctx context.Context, client S3API, backups layout.Location) ([]string, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(backups.Bucket), Prefix: aws.String(backups.Dir()), Delimiter: aws.String("/")}
	var tables []string
	for {
		out, err := client.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list the folders under %s: %w", backups, err)
		}
		for _, p := range out.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(p.Prefix), backups.Dir()), "/")
			if name == "" || (backups.Prefix == "" && (name == strings.TrimPrefix(SnapshotsSuffix, ".") || name == strings.TrimPrefix(ResultsSuffix, "."))) {
				continue
			}
			tables = append(tables, name)
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	slices.Sort(tables)
	return tables, nil
}

func lifecycle(ctx context.Context, client S3API, bucket string) ([]history.LifecycleRule, error) {
	out, err := client.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchLifecycleConfiguration" {
			return nil, nil
		}
		return nil, fmt.Errorf("get the lifecycle rules of bucket %s: %w", bucket, err)
	}
	return s3source.Rules(out.Rules), nil
}

type reader struct {
	o              Options
	s3             S3API
	snaps, results S3API
	ts             *TableStatus
	mu             sync.Mutex
}

func (rd *reader) errorf(format string, args ...any) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.ts.Errors = append(rd.ts.Errors, fmt.Sprintf(format, args...))
}

// read fills one table's columns, each apart: one failing leaves the
// others.
func (rd *reader) read(ctx context.Context, rules []history.LifecycleRule, ruleErr error) {
	loc := rd.o.Backups.Child(rd.ts.Table)
	var wg sync.WaitGroup
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	var firstBase *time.Time
	run(func(ctx context.Context) { firstBase = rd.newestChange(ctx, loc) })
	run(func(ctx context.Context) { rd.newestSnapshot(ctx) })
	run(func(ctx context.Context) { rd.ts.Drill = rd.result(ctx, DrillResult) })
	run(func(ctx context.Context) { rd.ts.Audit = rd.result(ctx, AuditResult) })
	run(func(ctx context.Context) { rd.definition(ctx, loc) })
	run(func(ctx context.Context) { rd.enrolment(ctx) })
	wg.Wait()
	if ruleErr != nil {
		rd.errorf("horizon: %v", ruleErr)
	} else {
		h := history.NewHorizon(loc.Bucket, loc.Dir(), rd.o.Now, rules)
		if t, rule := h.Oldest(); !t.IsZero() {
			rd.ts.Horizon, rd.ts.HorizonRule = &t, rule
		}
	}
	// A journal's history begins at its first base (a backfill's) or its
	// first change, whichever it has.
	if firstBase != nil && (rd.ts.Horizon == nil || firstBase.After(*rd.ts.Horizon)) {
		rd.ts.Horizon, rd.ts.HorizonRule = firstBase, "the journal's first base"
	}
}

// newestChange: for a journal, the newest segment (a listing of segments
// from a window before now, widened until it finds one: segments older
// than compaction's delete delay are gone, so the listing is short), else
// the newest output's end; for per-item, the newest of at most ItemPages
// pages of versions. It returns a journal's first base time.
func (rd *reader) newestChange(ctx context.Context, loc layout.Location) *time.Time {
	jb := &journal.S3Bucket{Client: rd.s3, Bucket: loc.Bucket}
	st, err := journal.LoadState(ctx, jb, loc.Dir())
	switch {
	case errors.Is(err, journal.ErrNoJournal):
		rd.newestItem(ctx, loc)
		return nil
	case err != nil:
		rd.errorf("journal: %v", err)
		return nil
	}
	rd.ts.Layout = "journal"
	rd.ts.NewestExact = true
	newest, err := newestSegment(ctx, jb, loc.Dir(), rd.o.Now)
	if err != nil {
		rd.errorf("journal segments: %v", err)
		return nil
	}
	if newest.IsZero() {
		// Every segment compacted and deleted (an hour after compaction at
		// the earliest, §10.7): the newest output that holds records
		// bounds the newest change from above, by the end of its window.
		_, to, ok, err := st.NewestOutput(ctx, jb, outputProbes)
		if err != nil {
			rd.errorf("journal outputs: %v", err)
			return nil
		}
		if ok {
			newest = to
			rd.ts.NewestExact = false
		}
	}
	if !newest.IsZero() {
		rd.ts.NewestChange = &newest
		lag := Duration(rd.o.Now.Sub(newest))
		rd.ts.Lag = &lag
	}
	if len(st.Bases) > 0 {
		t := st.Bases[0].To
		return &t
	}
	return nil
}

// outputProbes bounds the manifests read for a journal without segments.
const outputProbes = 24

// segmentWindows are how far back newestSegment looks, one after the
// other: each a listing from that time's segment name.
var segmentWindows = []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 0}

func newestSegment(ctx context.Context, b journal.Bucket, dir string, now time.Time) (time.Time, error) {
	prefix := dir + journal.Folder + "0/"
	for _, w := range segmentWindows {
		start := ""
		if w > 0 {
			start = journal.SegmentKey(dir, now.Add(-w), "")
		}
		var newest time.Time
		err := b.List(ctx, prefix, start, func(o journal.Object) bool {
			if o.LastModified.After(newest) {
				newest = o.LastModified
			}
			return true
		})
		if err != nil || !newest.IsZero() {
			return newest.UTC(), err
		}
	}
	return time.Time{}, nil
}

func (rd *reader) newestItem(ctx context.Context, loc layout.Location) {
	var newest time.Time
	found := false
	page := func(in *s3.ListObjectVersionsInput) (*s3.ListObjectVersionsOutput, error) {
		out, err := rd.s3.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list versions of %s: %w", loc, err)
		}
		for _, v := range out.Versions {
			found = true
			if t := aws.ToTime(v.LastModified); t.After(newest) {
				newest = t
			}
		}
		for _, m := range out.DeleteMarkers {
			found = true
			if t := aws.ToTime(m.LastModified); t.After(newest) {
				newest = t
			}
		}
		return out, nil
	}
	// Half the budget lists from the start: a folder that fits is exact.
	seq := max(rd.o.ItemPages/2, 1)
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(loc.Bucket), Prefix: aws.String(loc.Dir())}
	for pages := 1; ; pages++ {
		out, err := page(in)
		if err != nil {
			rd.errorf("%v", err)
			return
		}
		if !aws.ToBool(out.IsTruncated) {
			rd.ts.NewestExact = true
			break
		}
		if pages >= seq {
			// A larger folder: the other half samples one page at points
			// spread over the id space (ids are uniform hashes, so the
			// keys a busy table changes are everywhere in it). The newest
			// seen is a lower bound.
			samples := max(rd.o.ItemPages-seq, 1)
			for i := 1; i <= samples; i++ {
				marker := loc.Dir() + fmt.Sprintf("%04x", i*0x10000/(samples+1))
				if _, err := page(&s3.ListObjectVersionsInput{Bucket: aws.String(loc.Bucket), Prefix: aws.String(loc.Dir()), KeyMarker: aws.String(marker)}); err != nil {
					rd.errorf("%v", err)
					return
				}
			}
			break
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
	rd.ts.Layout = "items"
	if !found {
		rd.ts.Layout = "empty"
		return
	}
	newest = newest.UTC()
	rd.ts.NewestChange = &newest
	lag := Duration(rd.o.Now.Sub(newest))
	rd.ts.Lag = &lag
}

// newestSnapshot lists the snapshot folders ROOT/TABLE/<name>/ (one
// request per 1,000) and reads the summaries of the newest names first
// until a finished one: names in the fleet job's form
// (20060102T150405Z) sort as their times. At most snapshotProbes GETs.
func (rd *reader) newestSnapshot(ctx context.Context) {
	root := rd.o.Snapshots.Child(rd.ts.Table)
	in := &s3.ListObjectsV2Input{Bucket: aws.String(root.Bucket), Prefix: aws.String(root.Dir()), Delimiter: aws.String("/")}
	var dirs []string
	for {
		out, err := rd.snaps.ListObjectsV2(ctx, in)
		if err != nil {
			rd.errorf("list snapshots under %s: %v", root, err)
			return
		}
		for _, p := range out.CommonPrefixes {
			dirs = append(dirs, aws.ToString(p.Prefix))
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	slices.Sort(dirs)
	slices.Reverse(dirs)
	for i, d := range dirs {
		if i == snapshotProbes {
			break
		}
		var sum struct {
			ExportTime time.Time `json:"exportTime"`
		}
		err := getJSON(ctx, rd.snaps, root.Bucket, d+"manifest-summary.json", &sum, nil)
		if errors.Is(err, errNotFound) {
			continue // unfinished, or a folder of another kind
		}
		if err != nil {
			rd.errorf("snapshot %s: %v", d, err)
			return
		}
		t := sum.ExportTime.UTC()
		if t.IsZero() {
			continue // an incremental export
		}
		rd.ts.Snapshot = "s3://" + root.Bucket + "/" + strings.TrimSuffix(d, "/")
		rd.ts.SnapshotTime = &t
		age := Duration(rd.o.Now.Sub(t))
		rd.ts.SnapshotAge = &age
		return
	}
}

// snapshotProbes bounds the summaries read for one table.
const snapshotProbes = 5

// result reads ROOT/TABLE/<name>: drill's report (drill --report-out),
// or an audit's; both hold passed, startTime (or time) and failures.
func (rd *reader) result(ctx context.Context, name string) *Result {
	key := ResultKey(rd.o.Results, rd.ts.Table, name)
	var body struct {
		Passed    *bool     `json:"passed"`
		StartTime time.Time `json:"startTime"`
		Time      time.Time `json:"time"`
		Failures  []string  `json:"failures"`
	}
	var modified time.Time
	err := getJSON(ctx, rd.results, rd.o.Results.Bucket, key, &body, &modified)
	if errors.Is(err, errNotFound) {
		return nil
	}
	if err != nil {
		rd.errorf("%s: %v", name, err)
		return nil
	}
	res := &Result{Key: "s3://" + rd.o.Results.Bucket + "/" + key, Time: body.StartTime, Passed: body.Passed != nil && *body.Passed, Failures: body.Failures}
	if res.Time.IsZero() {
		res.Time = body.Time
	}
	if res.Time.IsZero() {
		res.Time = modified
	}
	res.Time = res.Time.UTC()
	res.Age = Duration(rd.o.Now.Sub(res.Time))
	return res
}

// enrolment reads RESULTS/TABLE/enrolment.json.
func (rd *reader) enrolment(ctx context.Context) {
	var rec enroll.Record
	err := getJSON(ctx, rd.results, rd.o.Results.Bucket, ResultKey(rd.o.Results, rd.ts.Table, enroll.RecordName), &rec, nil)
	switch {
	case errors.Is(err, errNotFound):
	case err != nil:
		rd.errorf("enrolment: %v", err)
	default:
		rd.ts.Enrolment = &rec
	}
}

// definition HEADs PREFIX/TABLE.dynasnap-table-definition.json.
func (rd *reader) definition(ctx context.Context, loc layout.Location) {
	key := tabledef.ObjectKey(loc)
	out, err := rd.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(key)})
	if isNotFound(err) {
		return
	}
	if err != nil {
		rd.errorf("definition: head s3://%s/%s: %v", loc.Bucket, key, err)
		return
	}
	t := aws.ToTime(out.LastModified).UTC()
	rd.ts.Definition = &t
}

// check compares the columns with the thresholds. A table tagged but not
// backed up always breaks; a released one (untagged or deleted, its
// backup kept) is held to none.
func (ts *TableStatus) check(th Thresholds) {
	if e := ts.Enrolment; e != nil {
		switch e.State {
		case enroll.StateUnavailable:
			ts.Breaks = append(ts.Breaks, "not backed up: "+e.Reason)
			return
		case enroll.StateReleased:
			return
		}
	}
	age := func(d *Duration, max time.Duration, missing, what, flag string) {
		switch {
		case max <= 0:
		case d == nil:
			ts.Breaks = append(ts.Breaks, missing)
		case time.Duration(*d) > max:
			ts.Breaks = append(ts.Breaks, fmt.Sprintf("%s %s over %s %s", what, round(*d), flag, max))
		}
	}
	age(ts.Lag, th.MaxLag, "no change written", "lag", "--max-lag")
	age(ts.SnapshotAge, th.MaxSnapshotAge, "never snapshotted", "snapshot age", "--max-snapshot-age")
	job := func(r *Result, name, flag string, max time.Duration) {
		if max <= 0 {
			return
		}
		switch {
		case r == nil:
			ts.Breaks = append(ts.Breaks, "never "+name+"ed")
		case !r.Passed:
			ts.Breaks = append(ts.Breaks, "the newest "+name+" failed")
		case time.Duration(r.Age) > max:
			ts.Breaks = append(ts.Breaks, fmt.Sprintf("%s age %s over %s %s", name, round(r.Age), flag, max))
		}
	}
	job(ts.Drill, "drill", "--max-drill-age", th.MaxDrillAge)
	job(ts.Audit, "audit", "--max-audit-age", th.MaxAuditAge)
}

func round(d Duration) time.Duration { return time.Duration(d).Round(time.Second) }

var errNotFound = errors.New("not found")

func getJSON(ctx context.Context, client S3API, bucket, key string, v any, modified *time.Time) error {
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if isNotFound(err) {
		return errNotFound
	}
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	if modified != nil {
		*modified = aws.ToTime(out.LastModified)
	}
	if err := decodeJSON(out.Body, v); err != nil {
		return fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// isNotFound: missing, or a HEAD of a key whose current version is a
// delete marker (405 when S3 says so for the version).
func isNotFound(err error) bool {
	var re *awshttp.ResponseError
	return awserr.IsNotFound(err) || errors.As(err, &re) && re.HTTPStatusCode() == http.StatusMethodNotAllowed
}
