package tabledef_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/tabledef"
)

func key(name string, kt types.KeyType) types.KeySchemaElement {
	return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: kt}
}

func attr(name string, at types.ScalarAttributeType) types.AttributeDefinition {
	return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: at}
}

func capacity(r, w int64) *types.ProvisionedThroughput {
	return &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(r), WriteCapacityUnits: aws.Int64(w)}
}

// wantCreateProvisioned is CreateTable for wantProvisioned as recorded.
// The stream and the recorded warm throughput are not set (§7).
func wantCreateProvisioned() *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String("orders-restored"),
		KeySchema:   []types.KeySchemaElement{key("pk", types.KeyTypeHash), key("sk", types.KeyTypeRange)},
		BillingMode: types.BillingModeProvisioned,
		AttributeDefinitions: []types.AttributeDefinition{
			attr("customer", "S"), attr("pk", "S"), attr("placedAt", "N"), attr("sk", "N"), attr("sku", "B"), attr("status", "S"),
		},
		ProvisionedThroughput: capacity(10, 5),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{IndexName: aws.String("byCustomer"), KeySchema: []types.KeySchemaElement{key("customer", types.KeyTypeHash)},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}, ProvisionedThroughput: capacity(3, 1)},
			{IndexName: aws.String("byStatus"), KeySchema: []types.KeySchemaElement{key("status", types.KeyTypeHash), key("placedAt", types.KeyTypeRange)},
				Projection:            &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"customer", "total"}},
				ProvisionedThroughput: capacity(4, 2)},
		},
		LocalSecondaryIndexes: []types.LocalSecondaryIndex{
			{IndexName: aws.String("bySku"), KeySchema: []types.KeySchemaElement{key("pk", types.KeyTypeHash), key("sku", types.KeyTypeRange)},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}},
		},
		SSESpecification:          &types.SSESpecification{Enabled: aws.Bool(true), SSEType: types.SSETypeKms, KMSMasterKeyId: aws.String(kmsArn)},
		TableClass:                types.TableClassStandardInfrequentAccess,
		DeletionProtectionEnabled: aws.Bool(true),
	}
}

func diffInput(t *testing.T, got, want *dynamodb.CreateTableInput) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	t.Errorf("CreateTable input differs\n got: %s\nwant: %s", g, w)
}

func TestCreateInputAsRecorded(t *testing.T) {
	in, err := tabledef.CreateInput(recorded(wantProvisioned()), "orders-restored", tabledef.Overrides{Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	diffInput(t, in, wantCreateProvisioned())
}

// The restore flags win over what was recorded.
func TestCreateInputOverrides(t *testing.T) {
	tests := []struct {
		name string
		o    tabledef.Overrides
		want func(*dynamodb.CreateTableInput)
	}{
		{name: "to on-demand", o: tabledef.Overrides{BillingMode: "PAY_PER_REQUEST"}, want: func(in *dynamodb.CreateTableInput) {
			// No capacity anywhere, and no on-demand limits: none were
			// recorded for a provisioned table.
			in.BillingMode = types.BillingModePayPerRequest
			in.ProvisionedThroughput = nil
			for i := range in.GlobalSecondaryIndexes {
				in.GlobalSecondaryIndexes[i].ProvisionedThroughput = nil
			}
		}},
		{name: "same billing given", o: tabledef.Overrides{BillingMode: "PROVISIONED"}, want: func(*dynamodb.CreateTableInput) {}},
		{name: "KMS key", o: tabledef.Overrides{KMSKey: "alias/restore"}, want: func(in *dynamodb.CreateTableInput) {
			in.SSESpecification.KMSMasterKeyId = aws.String("alias/restore")
		}},
		// Another region's recorded key cannot be used; the override is
		// the way out, and is not checked against the region.
		{name: "KMS key in another region", o: tabledef.Overrides{KMSKey: "arn:aws:kms:us-east-1:123456789012:key/k", Region: "us-east-1"},
			want: func(in *dynamodb.CreateTableInput) {
				in.SSESpecification.KMSMasterKeyId = aws.String("arn:aws:kms:us-east-1:123456789012:key/k")
			}},
		{name: "AWS-owned key", o: tabledef.Overrides{KMSKey: "default", Region: "us-east-1"}, want: func(in *dynamodb.CreateTableInput) {
			in.SSESpecification = nil
		}},
		{name: "table class", o: tabledef.Overrides{TableClass: "STANDARD"}, want: func(in *dynamodb.CreateTableInput) {
			in.TableClass = types.TableClassStandard
		}},
		{name: "warm write units", o: tabledef.Overrides{WarmWriteUnits: 5000}, want: func(in *dynamodb.CreateTableInput) {
			in.WarmThroughput = &types.WarmThroughput{WriteUnitsPerSecond: aws.Int64(5000)}
		}},
		{name: "drill's scratch table", o: tabledef.Overrides{NoDeletionProtection: true}, want: func(in *dynamodb.CreateTableInput) {
			in.DeletionProtectionEnabled = nil
		}},
		{name: "all at once", o: tabledef.Overrides{BillingMode: "PAY_PER_REQUEST", KMSKey: "default", TableClass: "STANDARD",
			WarmWriteUnits: 1, NoDeletionProtection: true, Region: "ap-south-1"}, want: func(in *dynamodb.CreateTableInput) {
			in.BillingMode = types.BillingModePayPerRequest
			in.ProvisionedThroughput = nil
			for i := range in.GlobalSecondaryIndexes {
				in.GlobalSecondaryIndexes[i].ProvisionedThroughput = nil
			}
			in.SSESpecification = nil
			in.TableClass = types.TableClassStandard
			in.WarmThroughput = &types.WarmThroughput{WriteUnitsPerSecond: aws.Int64(1)}
			in.DeletionProtectionEnabled = nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := recorded(wantProvisioned())
			before, _ := d.Marshal()
			got, err := tabledef.CreateInput(d, "orders-restored", tt.o)
			if err != nil {
				t.Fatal(err)
			}
			want := wantCreateProvisioned()
			tt.want(want)
			diffInput(t, got, want)
			if after, _ := d.Marshal(); string(after) != string(before) {
				t.Error("CreateInput changed the definition")
			}
		})
	}
}

func TestCreateInputRefused(t *testing.T) {
	tests := []struct {
		name    string
		d       func() *tabledef.Definition
		o       tabledef.Overrides
		wantErr string
	}{
		{name: "bad billing", d: wantProvisioned, o: tabledef.Overrides{BillingMode: "FREE"},
			wantErr: `billing mode "FREE": want PROVISIONED or PAY_PER_REQUEST`},
		{name: "bad class", d: wantProvisioned, o: tabledef.Overrides{TableClass: "GLACIER"},
			wantErr: `table class "GLACIER": want STANDARD or STANDARD_INFREQUENT_ACCESS`},
		{name: "negative warm", d: wantProvisioned, o: tabledef.Overrides{WarmWriteUnits: -1},
			wantErr: "warm write units must not be negative"},
		{name: "recorded key of another region", d: wantProvisioned, o: tabledef.Overrides{Region: "us-east-1"},
			wantErr: "the table was encrypted with KMS key " + kmsArn + " of region eu-west-1, which cannot encrypt a table in us-east-1: pass --table-kms-key"},
		{name: "on-demand to provisioned without capacity", d: wantOnDemand, o: tabledef.Overrides{BillingMode: "PROVISIONED"},
			wantErr: "billing mode PROVISIONED, but the recorded table is on-demand and records no capacity"},
		{name: "no key", d: func() *tabledef.Definition {
			d := wantProvisioned()
			d.KeySchema = d.KeySchema[1:]
			return d
		}, wantErr: "has no partition (HASH) key"},
		{name: "index key without attribute definition", d: func() *tabledef.Definition {
			d := wantProvisioned()
			d.AttributeDefinitions = d.AttributeDefinitions[1:] // customer, byCustomer's key
			d.GlobalSecondaryIndexes[0].KeySchema = append(d.GlobalSecondaryIndexes[0].KeySchema, tabledef.KeySchemaElement{AttributeName: "at", KeyType: "RANGE"})
			return d
		}, wantErr: "table definition: no attribute definition for at, customer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := tabledef.CreateInput(tt.d(), "x", tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if in != nil {
				t.Error("an input came with the error")
			}
		})
	}
}

// On demand: no ProvisionedThroughput on the table or any GSI, whatever
// capacities a (hand-written) definition holds; the on-demand limits only
// while the billing mode stays.
func TestCreateInputOnDemand(t *testing.T) {
	d := recorded(wantOnDemand())
	got, err := tabledef.CreateInput(d, "orders-restored", tabledef.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	want := wantCreateProvisioned()
	want.BillingMode = types.BillingModePayPerRequest
	want.ProvisionedThroughput = nil
	want.OnDemandThroughput = &types.OnDemandThroughput{MaxReadRequestUnits: aws.Int64(100)}
	want.GlobalSecondaryIndexes[0].ProvisionedThroughput = nil
	want.GlobalSecondaryIndexes[1].ProvisionedThroughput = nil
	want.GlobalSecondaryIndexes[1].OnDemandThroughput = &types.OnDemandThroughput{MaxReadRequestUnits: aws.Int64(50), MaxWriteRequestUnits: aws.Int64(20)}
	diffInput(t, got, want)

	// Capacities left in a file are not sent with PAY_PER_REQUEST, which
	// CreateTable would refuse.
	d.ProvisionedThroughput = &tabledef.Throughput{ReadCapacityUnits: 1, WriteCapacityUnits: 1}
	d.GlobalSecondaryIndexes[0].ProvisionedThroughput = &tabledef.Throughput{ReadCapacityUnits: 1, WriteCapacityUnits: 1}
	got, err = tabledef.CreateInput(d, "orders-restored", tabledef.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	diffInput(t, got, want)

	// Such a file can go to PROVISIONED, a GSI without capacity getting
	// the table's; the on-demand limits are dropped.
	got, err = tabledef.CreateInput(d, "orders-restored", tabledef.Overrides{BillingMode: "PROVISIONED"})
	if err != nil {
		t.Fatal(err)
	}
	if got.BillingMode != types.BillingModeProvisioned || got.OnDemandThroughput != nil ||
		!reflect.DeepEqual(got.ProvisionedThroughput, capacity(1, 1)) {
		t.Errorf("to PROVISIONED: %s, table %+v, on-demand %+v", got.BillingMode, got.ProvisionedThroughput, got.OnDemandThroughput)
	}
	for _, g := range got.GlobalSecondaryIndexes {
		if g.OnDemandThroughput != nil || !reflect.DeepEqual(g.ProvisionedThroughput, capacity(1, 1)) {
			t.Errorf("GSI %s: capacity %+v, on-demand %+v", aws.ToString(g.IndexName), g.ProvisionedThroughput, g.OnDemandThroughput)
		}
	}

	// No billing mode at all (a hand-written file) is on-demand.
	d.BillingMode = ""
	got, err = tabledef.CreateInput(d, "t", tabledef.Overrides{})
	if err != nil || got.BillingMode != types.BillingModePayPerRequest || got.ProvisionedThroughput != nil || got.OnDemandThroughput != nil {
		t.Errorf("no billing mode: %v, %+v", err, got)
	}
}

// Provisioned capacity of 0 (as a file may hold) is sent as 1, the least
// CreateTable takes.
func TestCreateInputCapacityFloor(t *testing.T) {
	d := wantProvisioned()
	d.ProvisionedThroughput = &tabledef.Throughput{ReadCapacityUnits: 0, WriteCapacityUnits: 3}
	d.GlobalSecondaryIndexes[0].ProvisionedThroughput = nil
	got, err := tabledef.CreateInput(d, "t", tabledef.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.ProvisionedThroughput, capacity(1, 3)) || !reflect.DeepEqual(got.GlobalSecondaryIndexes[0].ProvisionedThroughput, capacity(1, 3)) {
		t.Errorf("table %+v, GSI %+v", got.ProvisionedThroughput, got.GlobalSecondaryIndexes[0].ProvisionedThroughput)
	}
}

// CreateTable refuses an attribute definition no key uses, and a
// duplicate: the input holds each key attribute of the table, its GSIs and
// LSIs exactly once.
func TestCreateInputAttributeDefinitions(t *testing.T) {
	d := wantProvisioned()
	d.AttributeDefinitions = append(d.AttributeDefinitions,
		tabledef.AttributeDef{AttributeName: "total", AttributeType: "N"}, // projected, not a key
		tabledef.AttributeDef{AttributeName: "pk", AttributeType: "S"})    // twice
	d.GlobalSecondaryIndexes = append(d.GlobalSecondaryIndexes, tabledef.GlobalIndex{IndexName: "bySk",
		KeySchema:  []tabledef.KeySchemaElement{{AttributeName: "sk", KeyType: "HASH"}, {AttributeName: "pk", KeyType: "RANGE"}},
		Projection: tabledef.Projection{ProjectionType: "ALL"}})
	got, err := tabledef.CreateInput(d, "t", tabledef.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	keyAttrs := map[string]bool{}
	for _, ks := range [][]types.KeySchemaElement{got.KeySchema} {
		for _, k := range ks {
			keyAttrs[aws.ToString(k.AttributeName)] = true
		}
	}
	for _, g := range got.GlobalSecondaryIndexes {
		for _, k := range g.KeySchema {
			keyAttrs[aws.ToString(k.AttributeName)] = true
		}
	}
	for _, l := range got.LocalSecondaryIndexes {
		for _, k := range l.KeySchema {
			keyAttrs[aws.ToString(k.AttributeName)] = true
		}
	}
	seen := map[string]int{}
	for _, a := range got.AttributeDefinitions {
		seen[aws.ToString(a.AttributeName)]++
	}
	for n := range keyAttrs {
		if seen[n] != 1 {
			t.Errorf("key attribute %s defined %d times", n, seen[n])
		}
	}
	for n := range seen {
		if !keyAttrs[n] {
			t.Errorf("attribute %s defined, but no key uses it", n)
		}
	}
	if len(keyAttrs) != 6 {
		t.Errorf("%d key attributes, want 6", len(keyAttrs))
	}
}

// An LSI keeps its projection, INCLUDE with its attributes; non-key
// attributes go only with INCLUDE, as CreateTable demands.
func TestCreateInputProjections(t *testing.T) {
	d := wantProvisioned()
	d.LocalSecondaryIndexes = []tabledef.LocalIndex{
		{IndexName: "a", KeySchema: []tabledef.KeySchemaElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "sku", KeyType: "RANGE"}},
			Projection: tabledef.Projection{ProjectionType: "INCLUDE", NonKeyAttributes: []string{"customer", "total"}}},
		{IndexName: "b", KeySchema: []tabledef.KeySchemaElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "placedAt", KeyType: "RANGE"}},
			Projection: tabledef.Projection{ProjectionType: "KEYS_ONLY", NonKeyAttributes: []string{"stray"}}},
	}
	d.GlobalSecondaryIndexes[0].Projection.NonKeyAttributes = []string{"stray"} // KEYS_ONLY
	got, err := tabledef.CreateInput(d, "t", tabledef.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	want := []types.LocalSecondaryIndex{
		{IndexName: aws.String("a"), KeySchema: []types.KeySchemaElement{key("pk", types.KeyTypeHash), key("sku", types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"customer", "total"}}},
		{IndexName: aws.String("b"), KeySchema: []types.KeySchemaElement{key("pk", types.KeyTypeHash), key("placedAt", types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}},
	}
	if !reflect.DeepEqual(got.LocalSecondaryIndexes, want) {
		g, _ := json.Marshal(got.LocalSecondaryIndexes)
		t.Errorf("LSIs %s", g)
	}
	if p := got.GlobalSecondaryIndexes[0].Projection; p.NonKeyAttributes != nil {
		t.Errorf("KEYS_ONLY GSI sent with non-key attributes %v", p.NonKeyAttributes)
	}
	// The input does not share the definition's slices: editing it must
	// not edit the definition.
	got.LocalSecondaryIndexes[0].Projection.NonKeyAttributes[0] = "x"
	if d.LocalSecondaryIndexes[0].Projection.NonKeyAttributes[0] != "customer" {
		t.Error("input and definition share NonKeyAttributes")
	}
}

// Encryption as recorded: KMS (customer or AWS managed key) is asked for
// again; the AWS-owned default or a disabled one needs nothing.
func TestCreateInputSSE(t *testing.T) {
	kms := &types.SSESpecification{Enabled: aws.Bool(true), SSEType: types.SSETypeKms, KMSMasterKeyId: aws.String(kmsArn)}
	tests := []struct {
		name   string
		sse    *tabledef.SSEDescription
		region string
		want   *types.SSESpecification
	}{
		{name: "none", sse: nil},
		{name: "AES256", sse: &tabledef.SSEDescription{Status: "ENABLED", SSEType: "AES256"}},
		{name: "KMS disabled", sse: &tabledef.SSEDescription{Status: "DISABLED", SSEType: "KMS", KMSMasterKeyArn: kmsArn}},
		{name: "KMS", sse: &tabledef.SSEDescription{Status: "ENABLED", SSEType: "KMS", KMSMasterKeyArn: kmsArn}, region: "eu-west-1", want: kms},
		{name: "KMS updating", sse: &tabledef.SSEDescription{Status: "UPDATING", SSEType: "KMS", KMSMasterKeyArn: kmsArn}, want: kms},
		{name: "KMS, no status", sse: &tabledef.SSEDescription{SSEType: "KMS", KMSMasterKeyArn: kmsArn}, want: kms},
		{name: "KMS, no key ARN", sse: &tabledef.SSEDescription{Status: "ENABLED", SSEType: "KMS"},
			want: &types.SSESpecification{Enabled: aws.Bool(true), SSEType: types.SSETypeKms}},
		// A key id or alias (not an ARN) names no region: left to CreateTable.
		{name: "KMS key id", sse: &tabledef.SSEDescription{Status: "ENABLED", SSEType: "KMS", KMSMasterKeyArn: "alias/x"}, region: "us-east-1",
			want: &types.SSESpecification{Enabled: aws.Bool(true), SSEType: types.SSETypeKms, KMSMasterKeyId: aws.String("alias/x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := wantProvisioned()
			d.SSEDescription = tt.sse
			got, err := tabledef.CreateInput(d, "t", tabledef.Overrides{Region: tt.region})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.SSESpecification, tt.want) {
				t.Errorf("SSE %+v, want %+v", got.SSESpecification, tt.want)
			}
		})
	}
}

// ImportTable gets the same table minus what it cannot take; an attribute
// only an LSI uses would make it refuse the definitions.
func TestImportParameters(t *testing.T) {
	in, err := tabledef.CreateInput(wantProvisioned(), "orders-restored", tabledef.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tabledef.ImportParameters(in)
	if err != nil {
		t.Fatal(err)
	}
	var p types.TableCreationParameters
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	want := types.TableCreationParameters{TableName: in.TableName, KeySchema: in.KeySchema, BillingMode: in.BillingMode,
		ProvisionedThroughput: in.ProvisionedThroughput, GlobalSecondaryIndexes: in.GlobalSecondaryIndexes, SSESpecification: in.SSESpecification,
		AttributeDefinitions: []types.AttributeDefinition{attr("customer", "S"), attr("pk", "S"), attr("placedAt", "N"), attr("sk", "N"), attr("status", "S")}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("parameters %s", b)
	}
	// The AWS CLI reads it: no nulls, empty strings or empty lists.
	for _, s := range []string{"null", `""`, "[]", "{}", "LocalSecondaryIndexes", "TableClass"} {
		if strings.Contains(string(b), s) {
			t.Errorf("parameters hold %s: %s", s, b)
		}
	}
	if len(in.AttributeDefinitions) != 6 {
		t.Error("ImportParameters changed the CreateTable input")
	}
}
