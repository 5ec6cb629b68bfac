package tabledef_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/dynasnap/dynasnap/internal/tabledef"
	"github.com/dynasnap/dynasnap/internal/testsupport/ddbapi"
)

const (
	tableArn = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders"
	kmsArn   = "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
)

var created = time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))

// provisionedTable is DescribeTable's answer for a PROVISIONED table keyed
// pk (S) + sk (N) with a KEYS_ONLY GSI, an INCLUDE GSI and an ALL LSI. Lists
// come in an order other than the definition's, and it carries the counts,
// statuses and dates a definition must leave out.
func provisionedTable() *types.TableDescription {
	return &types.TableDescription{
		TableName:        aws.String("orders"),
		TableArn:         aws.String(tableArn),
		TableId:          aws.String("5b3c9e4a-0d1f-4b2e-9c8d-7a6b5c4d3e2f"),
		TableStatus:      types.TableStatusActive,
		CreationDateTime: aws.Time(created),
		ItemCount:        aws.Int64(42),
		TableSizeBytes:   aws.Int64(4096),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
		},
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String("status"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("customer"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("placedAt"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String("sku"), AttributeType: types.ScalarAttributeTypeB},
		},
		BillingModeSummary: &types.BillingModeSummary{BillingMode: types.BillingModeProvisioned,
			LastUpdateToPayPerRequestDateTime: aws.Time(created)},
		ProvisionedThroughput: &types.ProvisionedThroughputDescription{ReadCapacityUnits: aws.Int64(10), WriteCapacityUnits: aws.Int64(5),
			NumberOfDecreasesToday: aws.Int64(2), LastIncreaseDateTime: aws.Time(created)},
		WarmThroughput: &types.TableWarmThroughputDescription{ReadUnitsPerSecond: aws.Int64(12000), WriteUnitsPerSecond: aws.Int64(4000),
			Status: types.TableStatusActive},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{
			{
				IndexName: aws.String("byStatus"), IndexStatus: types.IndexStatusActive, ItemCount: aws.Int64(40),
				IndexArn: aws.String(tableArn + "/index/byStatus"),
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String("placedAt"), KeyType: types.KeyTypeRange},
					{AttributeName: aws.String("status"), KeyType: types.KeyTypeHash},
				},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"total", "customer"}},
				ProvisionedThroughput: &types.ProvisionedThroughputDescription{ReadCapacityUnits: aws.Int64(4), WriteCapacityUnits: aws.Int64(2),
					NumberOfDecreasesToday: aws.Int64(1)},
				WarmThroughput: &types.GlobalSecondaryIndexWarmThroughputDescription{ReadUnitsPerSecond: aws.Int64(12000),
					WriteUnitsPerSecond: aws.Int64(4000), Status: types.IndexStatusActive},
			},
			{
				IndexName: aws.String("byCustomer"), IndexStatus: types.IndexStatusActive,
				KeySchema:             []types.KeySchemaElement{{AttributeName: aws.String("customer"), KeyType: types.KeyTypeHash}},
				Projection:            &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
				ProvisionedThroughput: &types.ProvisionedThroughputDescription{ReadCapacityUnits: aws.Int64(3), WriteCapacityUnits: aws.Int64(1)},
			},
		},
		LocalSecondaryIndexes: []types.LocalSecondaryIndexDescription{{
			IndexName: aws.String("bySku"), ItemCount: aws.Int64(42), IndexSizeBytes: aws.Int64(2048),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("sku"), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
		LatestStreamArn:     aws.String(tableArn + "/stream/2025-03-04T05:06:07.000"),
		SSEDescription: &types.SSEDescription{Status: types.SSEStatusEnabled, SSEType: types.SSETypeKms,
			KMSMasterKeyArn: aws.String(kmsArn)},
		TableClassSummary:         &types.TableClassSummary{TableClass: types.TableClassStandardInfrequentAccess, LastUpdateDateTime: aws.Time(created)},
		DeletionProtectionEnabled: aws.Bool(true),
	}
}

// onDemandTable is the same table on PAY_PER_REQUEST: DynamoDB still
// answers zero capacities, and -1 for "no limit" in the on-demand limits.
func onDemandTable() *types.TableDescription {
	t := provisionedTable()
	t.BillingModeSummary = &types.BillingModeSummary{BillingMode: types.BillingModePayPerRequest}
	t.ProvisionedThroughput = &types.ProvisionedThroughputDescription{ReadCapacityUnits: aws.Int64(0), WriteCapacityUnits: aws.Int64(0),
		NumberOfDecreasesToday: aws.Int64(0)}
	t.OnDemandThroughput = &types.OnDemandThroughput{MaxReadRequestUnits: aws.Int64(100), MaxWriteRequestUnits: aws.Int64(-1)}
	t.GlobalSecondaryIndexes[0].ProvisionedThroughput = &types.ProvisionedThroughputDescription{ReadCapacityUnits: aws.Int64(0), WriteCapacityUnits: aws.Int64(0)}
	t.GlobalSecondaryIndexes[0].OnDemandThroughput = &types.OnDemandThroughput{MaxReadRequestUnits: aws.Int64(50), MaxWriteRequestUnits: aws.Int64(20)}
	t.GlobalSecondaryIndexes[1].ProvisionedThroughput = &types.ProvisionedThroughputDescription{ReadCapacityUnits: aws.Int64(0), WriteCapacityUnits: aws.Int64(0)}
	t.GlobalSecondaryIndexes[1].OnDemandThroughput = &types.OnDemandThroughput{MaxReadRequestUnits: aws.Int64(-1), MaxWriteRequestUnits: aws.Int64(-1)}
	return t
}

func described(t *types.TableDescription) tabledef.Described {
	return tabledef.Described{
		Table:      t,
		TimeToLive: &types.TimeToLiveDescription{TimeToLiveStatus: types.TimeToLiveStatusEnabled, AttributeName: aws.String("expiresAt")},
		Tags:       []types.Tag{{Key: aws.String("team"), Value: aws.String("payments")}, {Key: aws.String("env"), Value: aws.String("prod")}},
		TagsRead:   true,
		Backups: &types.ContinuousBackupsDescription{ContinuousBackupsStatus: types.ContinuousBackupsStatusEnabled,
			PointInTimeRecoveryDescription: &types.PointInTimeRecoveryDescription{
				PointInTimeRecoveryStatus: types.PointInTimeRecoveryStatusEnabled, RecoveryPeriodInDays: aws.Int32(14),
				EarliestRestorableDateTime: aws.Time(created)}},
	}
}

// wantProvisioned is the definition of provisionedTable: lists sorted,
// HASH first, times in UTC, counts and statuses gone.
func wantProvisioned() *tabledef.Definition {
	ct := created.UTC()
	return &tabledef.Definition{
		TableName: "orders", TableArn: tableArn, TableId: "5b3c9e4a-0d1f-4b2e-9c8d-7a6b5c4d3e2f", CreationDateTime: &ct,
		KeySchema: []tabledef.KeySchemaElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "sk", KeyType: "RANGE"}},
		AttributeDefinitions: []tabledef.AttributeDef{
			{AttributeName: "customer", AttributeType: "S"}, {AttributeName: "pk", AttributeType: "S"},
			{AttributeName: "placedAt", AttributeType: "N"}, {AttributeName: "sk", AttributeType: "N"},
			{AttributeName: "sku", AttributeType: "B"}, {AttributeName: "status", AttributeType: "S"},
		},
		BillingMode:           "PROVISIONED",
		ProvisionedThroughput: &tabledef.Throughput{ReadCapacityUnits: 10, WriteCapacityUnits: 5},
		WarmThroughput:        &tabledef.WarmThroughput{ReadUnitsPerSecond: aws.Int64(12000), WriteUnitsPerSecond: aws.Int64(4000)},
		GlobalSecondaryIndexes: []tabledef.GlobalIndex{
			{
				IndexName:             "byCustomer",
				KeySchema:             []tabledef.KeySchemaElement{{AttributeName: "customer", KeyType: "HASH"}},
				Projection:            tabledef.Projection{ProjectionType: "KEYS_ONLY"},
				ProvisionedThroughput: &tabledef.Throughput{ReadCapacityUnits: 3, WriteCapacityUnits: 1},
			},
			{
				IndexName:             "byStatus",
				KeySchema:             []tabledef.KeySchemaElement{{AttributeName: "status", KeyType: "HASH"}, {AttributeName: "placedAt", KeyType: "RANGE"}},
				Projection:            tabledef.Projection{ProjectionType: "INCLUDE", NonKeyAttributes: []string{"customer", "total"}},
				ProvisionedThroughput: &tabledef.Throughput{ReadCapacityUnits: 4, WriteCapacityUnits: 2},
				WarmThroughput:        &tabledef.WarmThroughput{ReadUnitsPerSecond: aws.Int64(12000), WriteUnitsPerSecond: aws.Int64(4000)},
			},
		},
		LocalSecondaryIndexes: []tabledef.LocalIndex{{
			IndexName:  "bySku",
			KeySchema:  []tabledef.KeySchemaElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "sku", KeyType: "RANGE"}},
			Projection: tabledef.Projection{ProjectionType: "ALL"},
		}},
		StreamSpecification:       &tabledef.StreamSpecification{StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES"},
		SSEDescription:            &tabledef.SSEDescription{Status: "ENABLED", SSEType: "KMS", KMSMasterKeyArn: kmsArn},
		TableClass:                "STANDARD_INFREQUENT_ACCESS",
		DeletionProtectionEnabled: true,
		TimeToLiveDescription:     &tabledef.TimeToLive{TimeToLiveStatus: "ENABLED", AttributeName: "expiresAt"},
		Tags:                      []tabledef.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "payments"}},
		PointInTimeRecovery:       &tabledef.PointInTimeRecovery{PointInTimeRecoveryStatus: "ENABLED", RecoveryPeriodInDays: aws.Int32(14)},
		Dynasnap:                  tabledef.Details{FormatVersion: tabledef.FormatVersion},
	}
}

func wantOnDemand() *tabledef.Definition {
	d := wantProvisioned()
	d.BillingMode = "PAY_PER_REQUEST"
	d.ProvisionedThroughput = nil
	d.OnDemandThroughput = &tabledef.OnDemandThroughput{MaxReadRequestUnits: aws.Int64(100)}
	d.GlobalSecondaryIndexes[0].ProvisionedThroughput = nil // byCustomer: no limits either
	d.GlobalSecondaryIndexes[1].ProvisionedThroughput = nil
	d.GlobalSecondaryIndexes[1].OnDemandThroughput = &tabledef.OnDemandThroughput{MaxReadRequestUnits: aws.Int64(50), MaxWriteRequestUnits: aws.Int64(20)}
	return d
}

// diffJSON shows where two definitions part, as their stored bodies.
func diffJSON(t *testing.T, got, want *tabledef.Definition) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	t.Errorf("definition differs\n got: %s\nwant: %s", g, w)
}

// zeroFields names the top-level fields of d left at their zero value, so
// a fixture that misses a field (or a field added later) shows up.
func zeroFields(d *tabledef.Definition) []string {
	var out []string
	v := reflect.ValueOf(d).Elem()
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			out = append(out, v.Type().Field(i).Name)
		}
	}
	return out
}

func TestFromDescribedProvisioned(t *testing.T) {
	got := tabledef.FromDescribed(described(provisionedTable()))
	diffJSON(t, got, wantProvisioned())
	// The fixture sets everything a provisioned table can have; only the
	// on-demand limits and dynasnap's recording time stay unset.
	// The settings beyond DescribeTable have fixtures of their own.
	if z := zeroFields(got); !reflect.DeepEqual(z, []string{"OnDemandThroughput", "GlobalTableVersion", "Replicas", "ResourcePolicy", "ContributorInsights", "KinesisDataStreamDestinations", "AutoScaling", "EventSourceMappings"}) {
		t.Errorf("zero fields %v, want only OnDemandThroughput and the other calls' settings", z)
	}
	if !got.Dynasnap.RecordedAt.IsZero() || len(got.Dynasnap.Unread) != 0 {
		t.Errorf("dynasnap part %+v: FromDescribed sets no time and, with every part read, nothing unread", got.Dynasnap)
	}
	if got.CreationDateTime.Location() != time.UTC {
		t.Errorf("CreationDateTime in %v, want UTC (the body must not depend on the reader's zone)", got.CreationDateTime.Location())
	}
	ks, err := got.Key()
	if err != nil || ks.Hash.Name != "pk" || ks.Hash.Type != "S" || ks.Range.Name != "sk" || ks.Range.Type != "N" {
		t.Errorf("Key() = %+v, %v; want pk S + sk N", ks, err)
	}
	if a := got.TTLAttribute(); a != "expiresAt" {
		t.Errorf("TTLAttribute() = %q", a)
	}
}

// On demand, DynamoDB's zero capacities are no capacity and -1 is no limit:
// neither may be recorded, or CreateTable would get them back.
func TestFromDescribedOnDemand(t *testing.T) {
	got := tabledef.FromDescribed(described(onDemandTable()))
	diffJSON(t, got, wantOnDemand())
}

// The body must change only when the table does: the order DynamoDB lists
// indexes, attributes and tags in is not part of it.
func TestFromDescribedOrderFree(t *testing.T) {
	a := described(provisionedTable())
	b := described(provisionedTable())
	tb := b.Table
	reverse(tb.AttributeDefinitions)
	reverse(tb.GlobalSecondaryIndexes[0].Projection.NonKeyAttributes) // byStatus
	reverse(tb.GlobalSecondaryIndexes)
	reverse(tb.KeySchema)
	reverse(b.Tags)
	da, db := tabledef.FromDescribed(a), tabledef.FromDescribed(b)
	diffJSON(t, db, da)
	if da.Hash() != db.Hash() {
		t.Error("hash depends on DynamoDB's list order")
	}
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// What the other calls did not give must read as "not read" (Unread), not
// as "off"; what they gave empty reads as off.
func TestFromDescribedParts(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(*tabledef.Described)
		unread     []string
		ttl        *tabledef.TimeToLive
		pitr       *tabledef.PointInTimeRecovery
		noTags     bool
		tableClass string
		billing    string
	}{
		{name: "nothing but DescribeTable", edit: func(in *tabledef.Described) {
			in.TimeToLive, in.Tags, in.TagsRead, in.Backups = nil, nil, false, nil
		}, unread: []string{tabledef.PartTimeToLive, tabledef.PartTags, tabledef.PartContinuousBackups}, noTags: true},
		{name: "TTL status empty is disabled", edit: func(in *tabledef.Described) {
			in.TimeToLive = &types.TimeToLiveDescription{}
		}, ttl: &tabledef.TimeToLive{TimeToLiveStatus: "DISABLED"}},
		{name: "no PITR description is disabled", edit: func(in *tabledef.Described) {
			in.Backups = &types.ContinuousBackupsDescription{ContinuousBackupsStatus: types.ContinuousBackupsStatusEnabled}
		}, pitr: &tabledef.PointInTimeRecovery{PointInTimeRecoveryStatus: "DISABLED"}},
		{name: "tags read, none", edit: func(in *tabledef.Described) { in.Tags = nil }, noTags: true},
		{name: "no table class summary is STANDARD", edit: func(in *tabledef.Described) { in.Table.TableClassSummary = nil },
			tableClass: "STANDARD"},
		// Tables created before on-demand existed answer no BillingModeSummary.
		{name: "no billing summary is PROVISIONED", edit: func(in *tabledef.Described) { in.Table.BillingModeSummary = nil },
			billing: "PROVISIONED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := described(provisionedTable())
			tt.edit(&in)
			d := tabledef.FromDescribed(in)
			if !reflect.DeepEqual(d.Dynasnap.Unread, tt.unread) {
				t.Errorf("unread %v, want %v", d.Dynasnap.Unread, tt.unread)
			}
			if tt.ttl != nil && !reflect.DeepEqual(d.TimeToLiveDescription, tt.ttl) {
				t.Errorf("TTL %+v, want %+v", d.TimeToLiveDescription, tt.ttl)
			}
			if tt.unread != nil && (d.TimeToLiveDescription != nil || d.PointInTimeRecovery != nil || d.TTLAttribute() != "") {
				t.Errorf("unread parts recorded: TTL %+v, PITR %+v", d.TimeToLiveDescription, d.PointInTimeRecovery)
			}
			if tt.pitr != nil && !reflect.DeepEqual(d.PointInTimeRecovery, tt.pitr) {
				t.Errorf("PITR %+v, want %+v", d.PointInTimeRecovery, tt.pitr)
			}
			if tt.noTags && d.Tags != nil {
				t.Errorf("tags %v, want none", d.Tags)
			}
			if tt.tableClass != "" && d.TableClass != tt.tableClass {
				t.Errorf("table class %q, want %q", d.TableClass, tt.tableClass)
			}
			if tt.billing != "" && (d.BillingMode != tt.billing || d.ProvisionedThroughput == nil) {
				t.Errorf("billing %q, capacity %+v", d.BillingMode, d.ProvisionedThroughput)
			}
		})
	}
}

// fakeDescribe answers the four describe calls from fixed values and
// counts them; an err* field makes that call fail.
type fakeDescribe struct {
	ddbapi.NoSettings
	table    *types.TableDescription
	ttl      *types.TimeToLiveDescription
	tagPages [][]types.Tag
	backups  *types.ContinuousBackupsDescription

	tableErr, ttlErr, tagsErr, backupsErr error
	tagCalls                              []string // NextToken of each ListTagsOfResource, "" for none
	names                                 []string // TableName or ResourceArn of every call
}

func (f *fakeDescribe) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	f.names = append(f.names, aws.ToString(in.TableName))
	if f.tableErr != nil {
		return nil, f.tableErr
	}
	return &dynamodb.DescribeTableOutput{Table: f.table}, nil
}

func (f *fakeDescribe) DescribeTimeToLive(_ context.Context, in *dynamodb.DescribeTimeToLiveInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error) {
	f.names = append(f.names, aws.ToString(in.TableName))
	if f.ttlErr != nil {
		return nil, f.ttlErr
	}
	return &dynamodb.DescribeTimeToLiveOutput{TimeToLiveDescription: f.ttl}, nil
}

// ListTagsOfResource pages by the page number as NextToken.
func (f *fakeDescribe) ListTagsOfResource(_ context.Context, in *dynamodb.ListTagsOfResourceInput, _ ...func(*dynamodb.Options)) (*dynamodb.ListTagsOfResourceOutput, error) {
	f.names = append(f.names, aws.ToString(in.ResourceArn))
	f.tagCalls = append(f.tagCalls, aws.ToString(in.NextToken))
	if f.tagsErr != nil {
		return nil, f.tagsErr
	}
	page := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &page)
	}
	out := &dynamodb.ListTagsOfResourceOutput{}
	if page < len(f.tagPages) {
		out.Tags = f.tagPages[page]
	}
	if page+1 < len(f.tagPages) {
		out.NextToken = aws.String(fmt.Sprint(page + 1))
	}
	return out, nil
}

func (f *fakeDescribe) DescribeContinuousBackups(_ context.Context, in *dynamodb.DescribeContinuousBackupsInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeContinuousBackupsOutput, error) {
	f.names = append(f.names, aws.ToString(in.TableName))
	if f.backupsErr != nil {
		return nil, f.backupsErr
	}
	return &dynamodb.DescribeContinuousBackupsOutput{ContinuousBackupsDescription: f.backups}, nil
}

func newFakeDescribe() *fakeDescribe {
	in := described(provisionedTable())
	return &fakeDescribe{table: in.Table, ttl: in.TimeToLive, backups: in.Backups,
		tagPages: [][]types.Tag{in.Tags[:1], in.Tags[1:]}}
}

// Describe through the API: tags from every page, the recording time set,
// and the whole definition as FromDescribed makes it.
func TestDescribe(t *testing.T) {
	api := newFakeDescribe()
	before := time.Now().UTC()
	d, partial, err := tabledef.Describe(context.Background(), api, tabledef.Services{Scaling: ddbapi.NoScaling{}, Lambda: ddbapi.NoLambda{}}, "orders")
	if err != nil || partial != nil {
		t.Fatalf("Describe: %v, partial %v", err, partial)
	}
	if !reflect.DeepEqual(api.tagCalls, []string{"", "1"}) {
		t.Errorf("ListTagsOfResource NextTokens %q, want the two pages", api.tagCalls)
	}
	for _, n := range api.names {
		if n != "orders" && n != tableArn {
			t.Errorf("a call named %q, want the table or its ARN", n)
		}
	}
	if d.Dynasnap.RecordedAt.Before(before) || d.Dynasnap.RecordedAt.Location() != time.UTC {
		t.Errorf("RecordedAt %v, want now in UTC", d.Dynasnap.RecordedAt)
	}
	d.Dynasnap.RecordedAt = time.Time{}
	diffJSON(t, d, wantProvisioned())
}

// TTL and continuous backups answered with no description (as some
// emulators do) are off, not unread.
func TestDescribeEmptyAnswers(t *testing.T) {
	api := newFakeDescribe()
	api.ttl, api.backups, api.tagPages = nil, nil, nil
	d, partial, err := tabledef.Describe(context.Background(), api, tabledef.Services{Scaling: ddbapi.NoScaling{}, Lambda: ddbapi.NoLambda{}}, "orders")
	if err != nil || partial != nil {
		t.Fatalf("Describe: %v, partial %v", err, partial)
	}
	if d.Dynasnap.Unread != nil || d.TTLAttribute() != "" || d.Tags != nil ||
		d.TimeToLiveDescription.TimeToLiveStatus != "DISABLED" || d.PointInTimeRecovery.PointInTimeRecoveryStatus != "DISABLED" {
		t.Errorf("unread %v, TTL %+v, tags %v, PITR %+v", d.Dynasnap.Unread, d.TimeToLiveDescription, d.Tags, d.PointInTimeRecovery)
	}
}

// A failing secondary call costs only its part: named in Unread, its error
// in partial; DescribeTable failing is the error.
func TestDescribeFailures(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}
	api := newFakeDescribe()
	api.ttlErr, api.tagsErr, api.backupsErr = denied, denied, errors.New("UnknownOperationException")
	d, partial, err := tabledef.Describe(context.Background(), api, tabledef.Services{Scaling: ddbapi.NoScaling{}, Lambda: ddbapi.NoLambda{}}, "orders")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{tabledef.PartTimeToLive, tabledef.PartTags, tabledef.PartContinuousBackups}
	if !reflect.DeepEqual(d.Dynasnap.Unread, want) {
		t.Errorf("unread %v, want %v", d.Dynasnap.Unread, want)
	}
	for _, s := range []string{"describe time to live", "list tags", "describe continuous backups", "UnknownOperationException"} {
		if partial == nil || !strings.Contains(partial.Error(), s) {
			t.Errorf("partial error %v does not name %q", partial, s)
		}
	}
	if !tabledef.IsAccessDenied(partial) {
		t.Error("IsAccessDenied(partial) = false: the joined errors hold an AccessDeniedException")
	}
	if len(d.GlobalSecondaryIndexes) != 2 {
		t.Errorf("the table's part was lost: %d GSIs", len(d.GlobalSecondaryIndexes))
	}

	// Without a table ARN (some emulators) tags cannot be asked for.
	api = newFakeDescribe()
	api.table.TableArn = nil
	d, partial, err = tabledef.Describe(context.Background(), api, tabledef.Services{Scaling: ddbapi.NoScaling{}, Lambda: ddbapi.NoLambda{}}, "orders")
	if err != nil || partial != nil || len(api.tagCalls) != 0 || !reflect.DeepEqual(d.Dynasnap.Unread, []string{tabledef.PartTags}) {
		t.Errorf("no ARN: err %v, partial %v, %d tag calls, unread %v", err, partial, len(api.tagCalls), d.Dynasnap.Unread)
	}

	api = newFakeDescribe()
	api.tableErr = &types.ResourceNotFoundException{Message: aws.String("Requested resource not found")}
	d, _, err = tabledef.Describe(context.Background(), api, tabledef.Services{Scaling: ddbapi.NoScaling{}, Lambda: ddbapi.NoLambda{}}, "orders")
	var rnf *types.ResourceNotFoundException
	if d != nil || !errors.As(err, &rnf) || !strings.Contains(err.Error(), "describe table orders") {
		t.Errorf("DescribeTable failing: %v, %v", d, err)
	}
}

// A server that hands back the token it was given must not loop.
func TestDescribeTagsRepeatedToken(t *testing.T) {
	api := &repeatingTags{fakeDescribe: newFakeDescribe()}
	d, partial, err := tabledef.Describe(context.Background(), api, tabledef.Services{Scaling: ddbapi.NoScaling{}, Lambda: ddbapi.NoLambda{}}, "orders")
	if err != nil || partial != nil {
		t.Fatal(err, partial)
	}
	if api.calls != 2 || len(d.Tags) != 2 {
		t.Errorf("%d calls, tags %v", api.calls, d.Tags)
	}
}

type repeatingTags struct {
	*fakeDescribe
	calls int
}

func (r *repeatingTags) ListTagsOfResource(_ context.Context, in *dynamodb.ListTagsOfResourceInput, _ ...func(*dynamodb.Options)) (*dynamodb.ListTagsOfResourceOutput, error) {
	r.calls++
	return &dynamodb.ListTagsOfResourceOutput{NextToken: aws.String("same"),
		Tags: []types.Tag{{Key: aws.String(fmt.Sprint("k", r.calls)), Value: aws.String("v")}}}, nil
}

func TestIsAccessDenied(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&smithy.GenericAPIError{Code: "AccessDeniedException"}, true},
		{fmt.Errorf("describe time to live: %w", &smithy.GenericAPIError{Code: "AccessDenied"}), true},
		{&smithy.GenericAPIError{Code: "UnrecognizedClientException"}, true},
		{&smithy.GenericAPIError{Code: "UnauthorizedOperation"}, true},
		{&smithy.GenericAPIError{Code: "ThrottlingException"}, false},
		{&types.ResourceNotFoundException{}, false},
		{errors.New("AccessDeniedException"), false}, // text alone is not the code
		{nil, false},
	}
	for _, tt := range tests {
		if got := tabledef.IsAccessDenied(tt.err); got != tt.want {
			t.Errorf("IsAccessDenied(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
