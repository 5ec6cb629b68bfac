// Package enroll keeps every DynamoDB table that carries a tag backed up by
// one writer function (docs/DESIGN.md §11.2): for each tagged table it
// turns the stream on if allowed, attaches the writer with the one-table
// template's event source settings, runs the first backfill and records
// the enrolment; an untagged or deleted table's mapping is removed, its
// backups kept. It runs on the tag and table events EventBridge delivers
// and on a periodic sweep that repairs anything missed.
package enroll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/awserr"
	"github.com/dynasnap/dynasnap/internal/layout"
)

// DynamoAPI is every DynamoDB call the enroller makes itself (backfill
// makes its own Scans).
type DynamoAPI interface {
	ListTables(ctx context.Context, in *dynamodb.ListTablesInput, opts ...func(*dynamodb.Options)) (*dynamodb.ListTablesOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	ListTagsOfResource(ctx context.Context, in *dynamodb.ListTagsOfResourceInput, opts ...func(*dynamodb.Options)) (*dynamodb.ListTagsOfResourceOutput, error)
	UpdateTable(ctx context.Context, in *dynamodb.UpdateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTableOutput, error)
}

// S3API is what the enrolment record needs.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Defaults of Config.
const (
	DefaultTagKey   = "dynasnap:backup"
	DefaultTagValue = "true"
)

// Config is the fleet's enrolment policy.
type Config struct {
	// TagKey and TagValue: a table carrying this tag is enrolled.
	TagKey, TagValue string
	// Function is the writer's function name or ARN.
	Function string
	// EnableStreams lets the enroller turn a tagged table's stream on
	// (NEW_AND_OLD_IMAGES) when it is off; else such a table is reported.
	EnableStreams bool
	// Mapping is the event source settings of every mapping.
	Mapping MappingSettings
	// Backups is s3://BUCKET/PREFIX: a table's backup is PREFIX/TABLE.
	Backups layout.Location
	// Results is where each table's enrolment record is kept:
	// RESULTS/TABLE/enrolment.json (status.DefaultResults).
	Results layout.Location
	// Backfill runs a table's first backfill into Backups.
	Backfill func(ctx context.Context, table string) error
	// StreamWait bounds the wait for a stream just turned on (default 1m).
	StreamWait time.Duration
}

// Enroller reconciles tables with the policy.
type Enroller struct {
	DynamoDB DynamoAPI
	Lambda   LambdaAPI
	S3       S3API
	Config   Config
	Log      *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Outcome is what became of one table.
type Outcome string

const (
	Enrolled    Outcome = "enrolled"    // tagged, mapped, backfilled
	NotTagged   Outcome = "not-tagged"  // untagged: no mapping (one removed if it had one)
	Gone        Outcome = "deleted"     // the table no longer exists: its mappings removed
	Unavailable Outcome = "unavailable" // tagged, but cannot be backed up as it is (stream off and not allowed on, or without new images)
	Failed      Outcome = "failed"      // an error: the next sweep tries again
)

// TableResult is one table's line of a report.
type TableResult struct {
	Table           string   `json:"table"`
	Outcome         Outcome  `json:"outcome"`
	StreamArn       string   `json:"streamArn,omitempty"`
	StreamEnabled   bool     `json:"streamEnabled,omitempty"` // the enroller turned the stream on
	MappingCreated  string   `json:"mappingCreated,omitempty"`
	MappingsRemoved []string `json:"mappingsRemoved,omitempty"`
	Backfilled      bool     `json:"backfilled,omitempty"`
	Reason          string   `json:"reason,omitempty"`
}

// Report is a sweep's or an event's outcome: every table, one failing
// never stopping the others.
type Report struct {
	Tables []TableResult `json:"tables"`
	// Orphans are mappings of the writer whose table is gone or untagged,
	// removed by the sweep.
	Orphans []string `json:"orphans,omitempty"`
	Failed  int      `json:"failed"`
}

// Err is nil unless a table failed.
func (r *Report) Err() error {
	if r.Failed == 0 {
		return nil
	}
	var msgs []string
	for _, t := range r.Tables {
		if t.Outcome == Failed {
			msgs = append(msgs, t.Table+": "+t.Reason)
		}
	}
	return fmt.Errorf("%d tables failed: %s", r.Failed, strings.Join(msgs, "; "))
}

func (e *Enroller) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Enroller) tag() (string, string) {
	k, v := e.Config.TagKey, e.Config.TagValue
	if k == "" {
		k = DefaultTagKey
	}
	if v == "" {
		v = DefaultTagValue
	}
	return k, v
}

// Sweep reconciles every table of the account and region, then removes
// the writer's mappings whose table is not enrolled (deleted, or missed
// untag events).
func (e *Enroller) Sweep(ctx context.Context) (*Report, error) {
	tables, err := e.listTables(ctx)
	if err != nil {
		return nil, err
	}
	mappings, err := e.Lambda.ListEventSourceMappings(ctx, e.Config.Function, "")
	if err != nil {
		return nil, fmt.Errorf("list the writer's event source mappings: %w", err)
	}
	r := &Report{}
	keep := map[string]bool{} // mapping UUIDs of enrolled tables
	for _, t := range tables {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		tr := e.reconcile(ctx, t, mappings)
		for _, m := range mappings {
			if tr.Outcome == Enrolled && m.EventSourceArn == tr.StreamArn {
				keep[m.UUID] = true
			}
		}
		r.add(tr)
	}
	// Mappings of tables the listing no longer holds: deleted tables.
	for _, m := range mappings {
		if keep[m.UUID] || !isTableStream(m.EventSourceArn) || e.covered(r, m) {
			continue
		}
		if err := e.Lambda.DeleteEventSourceMapping(ctx, m.UUID); err != nil && !errors.Is(err, ErrNoMapping) {
			r.Failed++
			r.Tables = append(r.Tables, TableResult{Table: tableOfStream(m.EventSourceArn), Outcome: Failed, Reason: fmt.Sprintf("remove mapping %s: %v", m.UUID, err)})
			continue
		}
		e.log().Info("mapping of a table no longer listed removed; its backup is kept", "uuid", m.UUID, "event_source_arn", m.EventSourceArn)
		r.Orphans = append(r.Orphans, m.UUID)
		if err := e.markReleased(ctx, tableOfStream(m.EventSourceArn)); err != nil {
			r.Failed++
			r.Tables = append(r.Tables, TableResult{Table: tableOfStream(m.EventSourceArn), Outcome: Failed, Reason: fmt.Sprintf("enrolment record: %v", err)})
		}
	}
	return r, nil
}

// covered reports whether a sweep's table results already handled m.
func (e *Enroller) covered(r *Report, m Mapping) bool {
	for _, t := range r.Tables {
		if slices.Contains(t.MappingsRemoved, m.UUID) {
			return true
		}
	}
	return false
}

func (r *Report) add(tr TableResult) {
	if tr.Outcome == Failed {
		r.Failed++
	}
	r.Tables = append(r.Tables, tr)
}

// Tables reconciles the named tables only (an event's).
func (e *Enroller) Tables(ctx context.Context, names []string) (*Report, error) {
	mappings, err := e.Lambda.ListEventSourceMappings(ctx, e.Config.Function, "")
	if err != nil {
		return nil, fmt.Errorf("list the writer's event source mappings: %w", err)
	}
	r := &Report{}
	for _, n := range names {
		r.add(e.reconcile(ctx, n, mappings))
	}
	return r, nil
}

func (e *Enroller) listTables(ctx context.Context) ([]string, error) {
	var names []string
	in := &dynamodb.ListTablesInput{}
	for {
		out, err := e.DynamoDB.ListTables(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		names = append(names, out.TableNames...)
		if out.LastEvaluatedTableName == nil {
			return names, nil
		}
		in.ExclusiveStartTableName = out.LastEvaluatedTableName
	}
}

func (e *Enroller) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// reconcile brings one table in line with the policy; mappings are the
// writer's, listed once.
func (e *Enroller) reconcile(ctx context.Context, table string, mappings []Mapping) TableResult {
	tr := TableResult{Table: table}
	fail := func(format string, args ...any) TableResult {
		tr.Outcome, tr.Reason = Failed, fmt.Sprintf(format, args...)
		e.log().Warn("table not reconciled", "table", table, "error", tr.Reason)
		return tr
	}
	desc, err := e.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) || err == nil && desc.Table.TableStatus == types.TableStatusDeleting {
		tr.Outcome = Gone
		if err := e.release(ctx, &tr, mappings); err != nil {
			return fail("%v", err)
		}
		return tr
	}
	if err != nil {
		return fail("describe: %v", err)
	}
	td := desc.Table
	tagged, err := e.tagged(ctx, aws.ToString(td.TableArn))
	if err != nil {
		return fail("tags: %v", err)
	}
	if !tagged {
		tr.Outcome = NotTagged
		if err := e.release(ctx, &tr, mappings); err != nil {
			return fail("%v", err)
		}
		return tr
	}
	streamArn, reason, err := e.stream(ctx, &tr, td)
	if err != nil {
		return fail("stream: %v", err)
	}
	if reason != "" {
		tr.Outcome, tr.Reason = Unavailable, reason
		e.log().Warn("tagged table cannot be backed up as it is", "table", table, "reason", reason)
		// Recorded, so that status lists the table although it has no
		// backup: "is every table backed up" must see it.
		rec, err := e.record(ctx, table)
		if err != nil {
			return fail("enrolment record: %v", err)
		}
		if rec == nil || rec.State != StateUnavailable || rec.Reason != reason {
			if rec == nil {
				rec = &Record{Table: table, TableArn: aws.ToString(td.TableArn), Backups: e.Config.Backups.Child(table).String()}
			}
			rec.State, rec.Reason = StateUnavailable, reason
			if err := e.putRecord(ctx, rec); err != nil {
				return fail("enrolment record: %v", err)
			}
		}
		return tr
	}
	tr.StreamArn = streamArn
	// Mappings of the table's older streams (a table deleted and created
	// again) go; the current stream's is created if missing.
	if err := e.unmap(ctx, &tr, mappings, streamArn); err != nil {
		return fail("%v", err)
	}
	if !slices.ContainsFunc(mappings, func(m Mapping) bool { return m.EventSourceArn == streamArn }) {
		m, err := e.Lambda.CreateEventSourceMapping(ctx, e.Config.Mapping.input(e.Config.Function, streamArn))
		if err != nil {
			return fail("create mapping: %v", err)
		}
		tr.MappingCreated = m.UUID
		e.log().Info("table enrolled: writer attached", "table", table, "event_source_arn", streamArn, "uuid", m.UUID)
	}
	// The first backfill, once per stream: after the mapping, so every
	// change from then on is in the stream, and backfill's conditional
	// puts never bury a newer version the writer wrote.
	rec, err := e.record(ctx, table)
	if err != nil {
		return fail("enrolment record: %v", err)
	}
	// A table enrolled again after a release, or unavailable until now,
	// missed changes meanwhile: backfilled again.
	if rec == nil || rec.State != StateEnrolled || rec.StreamArn != streamArn || rec.BackfilledAt == nil {
		if e.Config.Backfill != nil {
			if err := e.Config.Backfill(ctx, table); err != nil {
				return fail("backfill: %v", err)
			}
			tr.Backfilled = true
		}
		now := e.now().UTC()
		rec = &Record{Table: table, State: StateEnrolled, TableArn: aws.ToString(td.TableArn), StreamArn: streamArn, EnrolledAt: &now, Backups: e.Config.Backups.Child(table).String()}
		if tr.Backfilled {
			rec.BackfilledAt = &now
		}
		if err := e.putRecord(ctx, rec); err != nil {
			return fail("enrolment record: %v", err)
		}
	}
	tr.Outcome = Enrolled
	return tr
}

// tagged reads the table's tags (every page).
func (e *Enroller) tagged(ctx context.Context, arn string) (bool, error) {
	key, value := e.tag()
	in := &dynamodb.ListTagsOfResourceInput{ResourceArn: aws.String(arn)}
	for {
		out, err := e.DynamoDB.ListTagsOfResource(ctx, in)
		if err != nil {
			return false, err
		}
		for _, t := range out.Tags {
			if aws.ToString(t.Key) == key {
				return aws.ToString(t.Value) == value, nil
			}
		}
		if out.NextToken == nil {
			return false, nil
		}
		in.NextToken = out.NextToken
	}
}

// stream returns the table's stream ARN, turning the stream on when it is
// off and allowed; reason says why the table cannot be backed up.
func (e *Enroller) stream(ctx context.Context, tr *TableResult, td *types.TableDescription) (string, string, error) {
	spec := td.StreamSpecification
	if spec != nil && aws.ToBool(spec.StreamEnabled) {
		switch spec.StreamViewType {
		case types.StreamViewTypeNewImage, types.StreamViewTypeNewAndOldImages:
			if td.LatestStreamArn == nil {
				return "", "", errors.New("the stream is enabled but DescribeTable names no LatestStreamArn")
			}
			return aws.ToString(td.LatestStreamArn), "", nil
		}
		return "", fmt.Sprintf("its stream's view type is %s; the backup needs NEW_AND_OLD_IMAGES or NEW_IMAGE (a new stream: disable and enable it with that view type)", spec.StreamViewType), nil
	}
	if !e.Config.EnableStreams {
		return "", "its stream is off and the stack may not turn streams on (EnableStreams): enable it with NEW_AND_OLD_IMAGES", nil
	}
	_, err := e.DynamoDB.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: td.TableName,
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages}})
	if err != nil {
		return "", "", fmt.Errorf("turn the stream on: %w", err)
	}
	tr.StreamEnabled = true
	e.log().Info("stream turned on", "table", aws.ToString(td.TableName), "view_type", "NEW_AND_OLD_IMAGES")
	wait := e.Config.StreamWait
	if wait <= 0 {
		wait = time.Minute
	}
	deadline := e.now().Add(wait)
	for {
		out, err := e.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: td.TableName})
		if err != nil {
			return "", "", err
		}
		if arn := aws.ToString(out.Table.LatestStreamArn); arn != "" && out.Table.StreamSpecification != nil && aws.ToBool(out.Table.StreamSpecification.StreamEnabled) {
			return arn, "", nil
		}
		if e.now().After(deadline) {
			return "", "", fmt.Errorf("the stream turned on has no ARN after %v: the next sweep tries again", wait)
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// unmap removes the writer's mappings of the table's streams other than
// keep ("" removes all of them). The backups stay.
func (e *Enroller) unmap(ctx context.Context, tr *TableResult, mappings []Mapping, keep string) error {
	for _, m := range mappings {
		if tableOfStream(m.EventSourceArn) != tr.Table || m.EventSourceArn == keep {
			continue
		}
		if err := e.Lambda.DeleteEventSourceMapping(ctx, m.UUID); err != nil && !errors.Is(err, ErrNoMapping) {
			return fmt.Errorf("remove mapping %s: %w", m.UUID, err)
		}
		tr.MappingsRemoved = append(tr.MappingsRemoved, m.UUID)
		e.log().Info("mapping removed; the table's backup is kept", "table", tr.Table, "uuid", m.UUID, "event_source_arn", m.EventSourceArn, "outcome", string(tr.Outcome))
	}
	return nil
}

// isTableStream reports whether arn is a DynamoDB stream's.
func isTableStream(arn string) bool {
	return strings.Contains(arn, ":dynamodb:") && strings.Contains(arn, "/stream/")
}

// tableOfStream is the table name in a DynamoDB stream ARN.
func tableOfStream(arn string) string {
	_, rest, ok := strings.Cut(arn, ":table/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// Record is RESULTS/TABLE/enrolment.json: what the enroller last made of
// the table. Enrolled: on this stream, backfilled (a new stream, a table
// re-created, gets a new backfill). Unavailable: tagged, but not backed up
// (Reason). Released: untagged or deleted; the backup is kept.
type Record struct {
	Table        string     `json:"table"`
	State        string     `json:"state"`
	Reason       string     `json:"reason,omitempty"`
	TableArn     string     `json:"tableArn"`
	StreamArn    string     `json:"streamArn,omitempty"`
	Backups      string     `json:"backups"`
	EnrolledAt   *time.Time `json:"enrolledAt"`
	BackfilledAt *time.Time `json:"backfilledAt"`
	ReleasedAt   *time.Time `json:"releasedAt,omitempty"`
}

// The states of a Record.
const (
	StateEnrolled    = "enrolled"
	StateUnavailable = "unavailable"
	StateReleased    = "released"
)

// release removes the table's mappings and records the release of a table
// that had a record (one never enrolled gets none).
func (e *Enroller) release(ctx context.Context, tr *TableResult, mappings []Mapping) error {
	if err := e.unmap(ctx, tr, mappings, ""); err != nil {
		return err
	}
	return e.markReleased(ctx, tr.Table)
}

func (e *Enroller) markReleased(ctx context.Context, table string) error {
	rec, err := e.record(ctx, table)
	if err != nil || rec == nil || rec.State == StateReleased {
		return err
	}
	now := e.now().UTC()
	rec.State, rec.Reason, rec.ReleasedAt = StateReleased, "", &now
	return e.putRecord(ctx, rec)
}

// RecordName is the enrolment record's name under RESULTS/TABLE/.
const RecordName = "enrolment.json"

func (e *Enroller) recordKey(table string) string {
	return e.Config.Results.Child(table).Key(RecordName)
}

func (e *Enroller) record(ctx context.Context, table string) (*Record, error) {
	out, err := e.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(e.Config.Results.Bucket), Key: aws.String(e.recordKey(table))})
	if err != nil {
		if awserr.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get s3://%s/%s: %w", e.Config.Results.Bucket, e.recordKey(table), err)
	}
	defer out.Body.Close()
	var r Record
	if err := json.NewDecoder(out.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("s3://%s/%s: %w", e.Config.Results.Bucket, e.recordKey(table), err)
	}
	return &r, nil
}

func (e *Enroller) putRecord(ctx context.Context, r *Record) error {
	b, _ := json.MarshalIndent(r, "", "  ")
	_, err := e.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.Config.Results.Bucket), Key: aws.String(e.recordKey(r.Table)),
		Body: strings.NewReader(string(b)), ContentType: aws.String("application/json")})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", e.Config.Results.Bucket, e.recordKey(r.Table), err)
	}
	return nil
}
