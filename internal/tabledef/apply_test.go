package tabledef_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/tabledef"
	"github.com/dynasnap/dynasnap/internal/testsupport/ddbapi"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		edit func(table *tabledef.Definition)
		want []string
	}{
		{name: "same", edit: func(*tabledef.Definition) {}},
		// The order indexes, non-key attributes and tags come in is no
		// difference (a hand-written file need not sort them); the extra
		// LSI gives the LSIs an order to lose, and is the one difference.
		{name: "other order", edit: func(d *tabledef.Definition) {
			reverse(d.GlobalSecondaryIndexes)
			reverse(d.GlobalSecondaryIndexes[0].Projection.NonKeyAttributes)
			reverse(d.Tags)
			reverse(d.AttributeDefinitions)
			d.LocalSecondaryIndexes = append(d.LocalSecondaryIndexes, tabledef.LocalIndex{IndexName: "a",
				KeySchema: []tabledef.KeySchemaElement{{AttributeName: "pk", KeyType: "HASH"}}, Projection: tabledef.Projection{ProjectionType: "ALL"}})
			reverse(d.LocalSecondaryIndexes)
		}, want: []string{"local secondary index a: on the table, not recorded"}},
		{name: "GSI missing", edit: func(d *tabledef.Definition) { d.GlobalSecondaryIndexes = d.GlobalSecondaryIndexes[1:] },
			want: []string{"global secondary index byCustomer: missing from the table"}},
		{name: "GSI not recorded", edit: func(d *tabledef.Definition) {
			d.GlobalSecondaryIndexes = append(d.GlobalSecondaryIndexes, tabledef.GlobalIndex{IndexName: "zNew", KeySchema: d.KeySchema[:1]},
				tabledef.GlobalIndex{IndexName: "aNew", KeySchema: d.KeySchema[:1]})
		}, want: []string{"global secondary index aNew: on the table, not recorded", "global secondary index zNew: on the table, not recorded"}},
		{name: "GSI projection", edit: func(d *tabledef.Definition) {
			d.GlobalSecondaryIndexes[1].Projection = tabledef.Projection{ProjectionType: "ALL"}
		}, want: []string{"global secondary index byStatus: projection recorded INCLUDE customer,total, table ALL"}},
		{name: "GSI non-key attributes", edit: func(d *tabledef.Definition) {
			d.GlobalSecondaryIndexes[1].Projection.NonKeyAttributes = []string{"customer"}
		}, want: []string{"global secondary index byStatus: projection recorded INCLUDE customer,total, table INCLUDE customer"}},
		{name: "GSI key", edit: func(d *tabledef.Definition) {
			d.GlobalSecondaryIndexes[1].KeySchema = d.GlobalSecondaryIndexes[1].KeySchema[:1]
		}, want: []string{"global secondary index byStatus: key recorded status:S HASH, placedAt:N RANGE, table status:S HASH"}},
		{name: "GSI key attribute type", edit: func(d *tabledef.Definition) { setType(d, "placedAt", "S") },
			want: []string{"global secondary index byStatus: key recorded status:S HASH, placedAt:N RANGE, table status:S HASH, placedAt:S RANGE"}},
		{name: "LSI missing", edit: func(d *tabledef.Definition) { d.LocalSecondaryIndexes = nil },
			want: []string{"local secondary index bySku: missing from the table"}},
		{name: "LSI projection", edit: func(d *tabledef.Definition) {
			d.LocalSecondaryIndexes[0].Projection = tabledef.Projection{ProjectionType: "INCLUDE", NonKeyAttributes: []string{"b", "a"}}
		}, want: []string{"local secondary index bySku: projection recorded ALL, table INCLUDE a,b"}},
		{name: "key name", edit: func(d *tabledef.Definition) {
			d.KeySchema[1].AttributeName = "sku"
		}, want: []string{"key: recorded pk:S HASH, sk:N RANGE, table pk:S HASH, sku:B RANGE"}},
		{name: "key type", edit: func(d *tabledef.Definition) { setType(d, "sk", "S") },
			want: []string{"key: recorded pk:S HASH, sk:N RANGE, table pk:S HASH, sk:S RANGE"}},
		{name: "key roles", edit: func(d *tabledef.Definition) {
			d.KeySchema = []tabledef.KeySchemaElement{{AttributeName: "sk", KeyType: "HASH"}, {AttributeName: "pk", KeyType: "RANGE"}}
		}, want: []string{"key: recorded pk:S HASH, sk:N RANGE, table sk:N HASH, pk:S RANGE"}},
		{name: "billing", edit: func(d *tabledef.Definition) { d.BillingMode = "PAY_PER_REQUEST" },
			want: []string{"billing mode: recorded PROVISIONED, table PAY_PER_REQUEST"}},
		{name: "TTL attribute", edit: func(d *tabledef.Definition) { d.TimeToLiveDescription.AttributeName = "ttl" },
			want: []string{"TTL attribute: recorded expiresAt, table ttl"}},
		{name: "TTL off", edit: func(d *tabledef.Definition) { d.TimeToLiveDescription.TimeToLiveStatus = "DISABLED" },
			want: []string{"TTL attribute: recorded expiresAt, table none"}},
		{name: "TTL being turned on counts as on", edit: func(d *tabledef.Definition) { d.TimeToLiveDescription.TimeToLiveStatus = "ENABLING" }},
		// verify may lack DescribeTimeToLive: unread is no difference.
		{name: "TTL unread on the table", edit: func(d *tabledef.Definition) {
			d.TimeToLiveDescription = nil
			d.Dynasnap.Unread = []string{tabledef.PartTimeToLive}
		}},
		// Compare covers what a restore must give back for the items to
		// read the same (DESIGN §7): tags, capacities, encryption, class,
		// deletion protection and PITR are not compared; the stream is.
		{name: "settings not compared", edit: func(d *tabledef.Definition) {
			d.Tags = []tabledef.Tag{{Key: "env", Value: "drill"}}
			d.ProvisionedThroughput.ReadCapacityUnits = 99
			d.GlobalSecondaryIndexes[0].ProvisionedThroughput = nil
			d.SSEDescription = nil
			d.TableClass = "STANDARD"
			d.DeletionProtectionEnabled = false
			d.PointInTimeRecovery = nil
			d.TableArn, d.TableId, d.TableName = "arn:other", "other", "orders-drill"
		}},
		{name: "several", edit: func(d *tabledef.Definition) {
			d.BillingMode = "PAY_PER_REQUEST"
			d.GlobalSecondaryIndexes = nil
			setType(d, "pk", "N")
		}, want: []string{
			"key: recorded pk:S HASH, sk:N RANGE, table pk:N HASH, sk:N RANGE",
			"global secondary index byCustomer: missing from the table",
			"global secondary index byStatus: missing from the table",
			"local secondary index bySku: key recorded pk:S HASH, sku:B RANGE, table pk:N HASH, sku:B RANGE",
			"billing mode: recorded PROVISIONED, table PAY_PER_REQUEST",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := recorded(wantProvisioned())
			table := clone(t, rec)
			tt.edit(table)
			if got := tabledef.Compare(rec, table); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("differences\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TTL recorded as unread is compared with nothing either.
func TestCompareTTLUnreadRecorded(t *testing.T) {
	rec := recorded(wantProvisioned())
	rec.TimeToLiveDescription = nil
	table := recorded(wantProvisioned())
	if got := tabledef.Compare(rec, table); got != nil {
		t.Errorf("differences %q", got)
	}
	// Read and off on the recorded side is a difference with a table
	// that has TTL on.
	rec.TimeToLiveDescription = &tabledef.TimeToLive{TimeToLiveStatus: "DISABLED"}
	if got := tabledef.Compare(rec, table); !reflect.DeepEqual(got, []string{"TTL attribute: recorded none, table expiresAt"}) {
		t.Errorf("differences %q", got)
	}
}

func setType(d *tabledef.Definition, name, typ string) {
	for i := range d.AttributeDefinitions {
		if d.AttributeDefinitions[i].AttributeName == name {
			d.AttributeDefinitions[i].AttributeType = typ
		}
	}
}

// fakeSettings records AfterLoad's calls; an err* field fails that call.
type fakeSettings struct {
	ddbapi.NoSettings
	ttl     []*dynamodb.UpdateTimeToLiveInput
	tags    []*dynamodb.TagResourceInput
	backups []*dynamodb.UpdateContinuousBackupsInput
	// DescribeTable answers these statuses in turn (the last repeats).
	statuses  []types.TableDescription
	describes int

	ttlErr, tagErr, describeErr, backupsErr error
}

func (f *fakeSettings) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	f.describes++
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	if len(f.statuses) > 0 {
		s := f.statuses[min(f.describes, len(f.statuses))-1]
		return &dynamodb.DescribeTableOutput{Table: &s}, nil
	}
	return &dynamodb.DescribeTableOutput{Table: &types.TableDescription{TableName: in.TableName, TableStatus: types.TableStatusActive,
		TableArn: aws.String("arn:aws:dynamodb:eu-west-1:123456789012:table/" + aws.ToString(in.TableName))}}, nil
}

func (f *fakeSettings) UpdateTimeToLive(_ context.Context, in *dynamodb.UpdateTimeToLiveInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error) {
	f.ttl = append(f.ttl, in)
	return &dynamodb.UpdateTimeToLiveOutput{}, f.ttlErr
}

func (f *fakeSettings) TagResource(_ context.Context, in *dynamodb.TagResourceInput, _ ...func(*dynamodb.Options)) (*dynamodb.TagResourceOutput, error) {
	f.tags = append(f.tags, in)
	return &dynamodb.TagResourceOutput{}, f.tagErr
}

func (f *fakeSettings) UpdateContinuousBackups(_ context.Context, in *dynamodb.UpdateContinuousBackupsInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateContinuousBackupsOutput, error) {
	f.backups = append(f.backups, in)
	return &dynamodb.UpdateContinuousBackupsOutput{}, f.backupsErr
}

// After the load: TTL on its attribute, the tags on the new table's ARN
// (not the source's), PITR with its recovery period.
func TestAfterLoad(t *testing.T) {
	api := &fakeSettings{}
	done, err := tabledef.AfterLoad(context.Background(), api, "restored", recorded(wantProvisioned()), tabledef.Recreate{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"TTL on expiresAt", "2 tags", "point-in-time recovery", "stream NEW_AND_OLD_IMAGES"}; !reflect.DeepEqual(done.Done, want) {
		t.Errorf("done %q, want %q", done.Done, want)
	}
	if len(api.ttl) != 1 || aws.ToString(api.ttl[0].TableName) != "restored" ||
		!reflect.DeepEqual(api.ttl[0].TimeToLiveSpecification, &types.TimeToLiveSpecification{AttributeName: aws.String("expiresAt"), Enabled: aws.Bool(true)}) {
		t.Errorf("UpdateTimeToLive %+v", api.ttl)
	}
	wantTags := []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("team"), Value: aws.String("payments")}}
	if len(api.tags) != 1 || aws.ToString(api.tags[0].ResourceArn) != "arn:aws:dynamodb:eu-west-1:123456789012:table/restored" ||
		!reflect.DeepEqual(api.tags[0].Tags, wantTags) {
		t.Errorf("TagResource %+v", api.tags)
	}
	if len(api.backups) != 1 || aws.ToString(api.backups[0].TableName) != "restored" || !reflect.DeepEqual(api.backups[0].PointInTimeRecoverySpecification,
		&types.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: aws.Bool(true), RecoveryPeriodInDays: aws.Int32(14)}) {
		t.Errorf("UpdateContinuousBackups %+v", api.backups)
	}
}

// What was off, or unread, is left alone: no call turns anything off.
func TestAfterLoadNothingToSet(t *testing.T) {
	off := recorded(wantProvisioned())
	off.TimeToLiveDescription = &tabledef.TimeToLive{TimeToLiveStatus: "DISABLED", AttributeName: "expiresAt"}
	off.Tags = nil
	off.PointInTimeRecovery = &tabledef.PointInTimeRecovery{PointInTimeRecoveryStatus: "DISABLED"}
	unread := recorded(wantProvisioned())
	unread.TimeToLiveDescription, unread.Tags, unread.PointInTimeRecovery = nil, nil, nil
	off.StreamSpecification, unread.StreamSpecification = nil, nil
	unread.Dynasnap.Unread = []string{tabledef.PartTimeToLive, tabledef.PartTags, tabledef.PartContinuousBackups}
	for name, d := range map[string]*tabledef.Definition{"off": off, "unread": unread} {
		api := &fakeSettings{}
		done, err := tabledef.AfterLoad(context.Background(), api, "restored", d, tabledef.Recreate{})
		if err != nil || done.Done != nil || len(api.ttl)+len(api.tags)+len(api.backups)+api.describes != 0 {
			t.Errorf("%s: done %q, err %v, calls %d/%d/%d/%d", name, done.Done, err, len(api.ttl), len(api.tags), len(api.backups), api.describes)
		}
	}
}

// One failure does not stop the others; each says how to finish by hand.
func TestAfterLoadFailures(t *testing.T) {
	boom := errors.New("boom")
	api := &fakeSettings{ttlErr: boom, describeErr: boom}
	done, err := tabledef.AfterLoad(context.Background(), api, "restored", recorded(wantProvisioned()), tabledef.Recreate{})
	if !reflect.DeepEqual(done.Done, []string{"point-in-time recovery"}) {
		t.Errorf("done %q", done.Done)
	}
	for _, s := range []string{
		"turn on TTL (attribute expiresAt): boom; by hand: aws dynamodb update-time-to-live --table-name restored --time-to-live-specification Enabled=true,AttributeName=expiresAt",
		"tag the table (2 tags): describe table restored: boom",
	} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not say %q", err, s)
		}
	}
	if !errors.Is(err, boom) || len(api.tags) != 0 {
		t.Errorf("err %v; %d TagResource calls without an ARN", err, len(api.tags))
	}

	api = &fakeSettings{backupsErr: boom}
	_, err = tabledef.AfterLoad(context.Background(), api, "restored", recorded(wantProvisioned()), tabledef.Recreate{})
	if err == nil || !strings.Contains(err.Error(), "turn on point-in-time recovery: boom; by hand: aws dynamodb update-continuous-backups --table-name restored") {
		t.Errorf("error %v", err)
	}
}

func TestWaitIndexes(t *testing.T) {
	creating := types.TableDescription{TableStatus: types.TableStatusActive, GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{
		{IndexName: aws.String("a"), IndexStatus: types.IndexStatusActive}, {IndexName: aws.String("b"), IndexStatus: types.IndexStatusCreating}}}
	active := types.TableDescription{TableStatus: types.TableStatusActive, GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{
		{IndexName: aws.String("a"), IndexStatus: types.IndexStatusActive}, {IndexName: aws.String("b"), IndexStatus: types.IndexStatusActive}}}
	ctx := context.Background()

	api := &fakeSettings{statuses: []types.TableDescription{creating, active}}
	if err := tabledef.WaitIndexes(ctx, api, "t", time.Minute); err != nil || api.describes != 2 {
		t.Errorf("err %v after %d describes, want nil after 2", err, api.describes)
	}

	// An index still building when the time is up is named.
	api = &fakeSettings{statuses: []types.TableDescription{{TableStatus: types.TableStatusCreating, GlobalSecondaryIndexes: creating.GlobalSecondaryIndexes}}}
	err := tabledef.WaitIndexes(ctx, api, "t", 0)
	if err == nil || !strings.Contains(err.Error(), "table t not active after 0s: table CREATING, index b CREATING") {
		t.Errorf("timeout: %v", err)
	}

	api = &fakeSettings{describeErr: errors.New("boom")}
	if err := tabledef.WaitIndexes(ctx, api, "t", time.Minute); err == nil || !strings.Contains(err.Error(), "describe table t: boom") {
		t.Errorf("describe failing: %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	api = &fakeSettings{statuses: []types.TableDescription{creating}}
	if err := tabledef.WaitIndexes(cctx, api, "t", time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
