package tabledef

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// SettingsAPI is what AfterLoad calls.
type SettingsAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
	TagResource(ctx context.Context, in *dynamodb.TagResourceInput, opts ...func(*dynamodb.Options)) (*dynamodb.TagResourceOutput, error)
	UpdateContinuousBackups(ctx context.Context, in *dynamodb.UpdateContinuousBackupsInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateContinuousBackupsOutput, error)
}

// AfterLoad sets what CreateTable does not, once the items are in: TTL
// (set earlier, it could delete restored items while they load), tags and
// point-in-time recovery, each as recorded. Parts the writer could not read
// are left alone. It returns what it set, and the failures joined.
func AfterLoad(ctx context.Context, api SettingsAPI, table string, d *Definition) (done []string, err error) {
	var errs []error
	if attr := d.TTLAttribute(); attr != "" {
		_, e := api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(table),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(true)}})
		if e != nil {
			errs = append(errs, fmt.Errorf("turn on TTL (attribute %s): %w; by hand: aws dynamodb update-time-to-live --table-name %s --time-to-live-specification Enabled=true,AttributeName=%s", attr, e, table, attr))
		} else {
			done = append(done, "TTL on "+attr)
		}
	}
	if len(d.Tags) > 0 {
		out, e := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if e == nil {
			var tags []types.Tag
			for _, t := range d.Tags {
				tags = append(tags, types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
			}
			_, e = api.TagResource(ctx, &dynamodb.TagResourceInput{ResourceArn: out.Table.TableArn, Tags: tags})
		}
		if e != nil {
			errs = append(errs, fmt.Errorf("tag the table (%d tags): %w", len(d.Tags), e))
		} else {
			done = append(done, fmt.Sprintf("%d tags", len(d.Tags)))
		}
	}
	if p := d.PointInTimeRecovery; p != nil && p.PointInTimeRecoveryStatus == string(types.PointInTimeRecoveryStatusEnabled) {
		spec := &types.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: aws.Bool(true), RecoveryPeriodInDays: p.RecoveryPeriodInDays}
		_, e := api.UpdateContinuousBackups(ctx, &dynamodb.UpdateContinuousBackupsInput{TableName: aws.String(table), PointInTimeRecoverySpecification: spec})
		if e != nil {
			errs = append(errs, fmt.Errorf("turn on point-in-time recovery: %w; by hand: aws dynamodb update-continuous-backups --table-name %s --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true", e, table))
		} else {
			done = append(done, "point-in-time recovery")
		}
	}
	return done, errors.Join(errs...)
}

// WaitIndexes waits until the table and every GSI are ACTIVE.
func WaitIndexes(ctx context.Context, api DescribeTableAPI, table string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	pause := 100 * time.Millisecond
	for {
		out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("describe table %s: %w", table, err)
		}
		var waiting []string
		if out.Table.TableStatus != types.TableStatusActive {
			waiting = append(waiting, "table "+string(out.Table.TableStatus))
		}
		for _, g := range out.Table.GlobalSecondaryIndexes {
			if g.IndexStatus != types.IndexStatusActive {
				waiting = append(waiting, fmt.Sprintf("index %s %s", aws.ToString(g.IndexName), g.IndexStatus))
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("table %s not active after %s: %s", table, timeout, strings.Join(waiting, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(pause*2, 5*time.Second)
	}
}

// DescribeTableAPI is DescribeTable alone.
type DescribeTableAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Compare lists how table differs from the recorded definition rec in what
// a restore must give back: the key (names, roles, types), each index
// (present, key, projection), the TTL attribute and the billing mode. TTL
// is compared only when both sides read it.
func Compare(rec, table *Definition) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if a, b := keyString(rec, rec.KeySchema), keyString(table, table.KeySchema); a != b {
		add("key: recorded %s, table %s", a, b)
	}
	out = append(out, indexDiffs("global", rec, table, indexShapes(rec.GlobalSecondaryIndexes), indexShapes(table.GlobalSecondaryIndexes))...)
	out = append(out, indexDiffs("local", rec, table, rec.LocalSecondaryIndexes, table.LocalSecondaryIndexes)...)
	if rec.TimeToLiveDescription != nil && table.TimeToLiveDescription != nil {
		if a, b := rec.TTLAttribute(), table.TTLAttribute(); a != b {
			add("TTL attribute: recorded %s, table %s", orNone(a), orNone(b))
		}
	}
	if rec.BillingMode != table.BillingMode {
		add("billing mode: recorded %s, table %s", rec.BillingMode, table.BillingMode)
	}
	return out
}

func keyString(d *Definition, ks []KeySchemaElement) string {
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s:%s %s", k.AttributeName, d.attrType(k.AttributeName), k.KeyType))
	}
	return strings.Join(parts, ", ")
}

func projString(p Projection) string {
	if p.ProjectionType != string(types.ProjectionTypeInclude) {
		return p.ProjectionType
	}
	a := slices.Clone(p.NonKeyAttributes)
	slices.Sort(a)
	return "INCLUDE " + strings.Join(a, ",")
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// indexDiffs compares the recorded and the table's indexes of one kind
// (global or local) by name, key and projection; a GSI's capacity is
// billing, compared with the billing mode.
func indexDiffs(kind string, rec, table *Definition, recorded, actual []LocalIndex) []string {
	var out []string
	have := map[string]LocalIndex{}
	for _, x := range actual {
		have[x.IndexName] = x
	}
	for _, x := range recorded {
		t, ok := have[x.IndexName]
		delete(have, x.IndexName)
		if !ok {
			out = append(out, fmt.Sprintf("%s secondary index %s: missing from the table", kind, x.IndexName))
			continue
		}
		if a, b := keyString(rec, x.KeySchema), keyString(table, t.KeySchema); a != b {
			out = append(out, fmt.Sprintf("%s secondary index %s: key recorded %s, table %s", kind, x.IndexName, a, b))
		}
		if a, b := projString(x.Projection), projString(t.Projection); a != b {
			out = append(out, fmt.Sprintf("%s secondary index %s: projection recorded %s, table %s", kind, x.IndexName, a, b))
		}
	}
	for _, n := range sortedKeys(have) {
		out = append(out, fmt.Sprintf("%s secondary index %s: on the table, not recorded", kind, n))
	}
	return out
}

// indexShapes keeps what Compare compares of GSIs: name, key, projection.
func indexShapes(gs []GlobalIndex) []LocalIndex {
	out := make([]LocalIndex, len(gs))
	for i, g := range gs {
		out[i] = LocalIndex{IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection}
	}
	return out
}
