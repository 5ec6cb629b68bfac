package tabledef

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Overrides change what a restore into another region or account may need
// different from the recorded table (docs/DESIGN.md §7).
type Overrides struct {
	// BillingMode PROVISIONED or PAY_PER_REQUEST ("": as recorded).
	BillingMode string
	// KMSKey is the KMS key (id, ARN or alias) to encrypt the new table
	// with; "default" means DynamoDB's AWS-owned key ("": as recorded).
	KMSKey string
	// TableClass STANDARD or STANDARD_INFREQUENT_ACCESS ("": as recorded).
	TableClass string
	// WarmWriteUnits, if positive, pre-warms the new table for this many
	// writes a second (CreateTable WarmThroughput.WriteUnitsPerSecond).
	WarmWriteUnits int64
	// NoDeletionProtection creates the table without deletion protection
	// whatever was recorded (drill's scratch tables).
	NoDeletionProtection bool
	// Region is the region the table is created in, to refuse a recorded
	// KMS key ARN of another region before CreateTable does.
	Region string
}

// Check validates the overrides' values.
func (o Overrides) Check() error {
	switch o.BillingMode {
	case "", string(types.BillingModeProvisioned), string(types.BillingModePayPerRequest):
	default:
		return fmt.Errorf("billing mode %q: want PROVISIONED or PAY_PER_REQUEST", o.BillingMode)
	}
	switch o.TableClass {
	case "", string(types.TableClassStandard), string(types.TableClassStandardInfrequentAccess):
	default:
		return fmt.Errorf("table class %q: want STANDARD or STANDARD_INFREQUENT_ACCESS", o.TableClass)
	}
	if o.WarmWriteUnits < 0 {
		return fmt.Errorf("warm write units must not be negative")
	}
	return nil
}

// CreateInput is the CreateTable request that makes table as d records it:
// key roles, attribute definitions, GSIs and LSIs with their projections,
// billing mode and capacities (the indexes' too), on-demand limits,
// encryption, table class and deletion protection. TTL, tags and
// point-in-time recovery are set after the load (AfterLoad); the stream is
// left off.
func CreateInput(d *Definition, table string, o Overrides) (*dynamodb.CreateTableInput, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	if _, err := d.Key(); err != nil {
		return nil, err
	}
	billing := d.BillingMode
	if o.BillingMode != "" {
		billing = o.BillingMode
	}
	if billing == "" {
		billing = string(types.BillingModePayPerRequest)
	}
	in := &dynamodb.CreateTableInput{TableName: aws.String(table), KeySchema: sdkKeys(d.KeySchema), BillingMode: types.BillingMode(billing)}
	used := map[string]bool{}
	for _, k := range d.KeySchema {
		used[k.AttributeName] = true
	}
	provisioned := billing == string(types.BillingModeProvisioned)
	sameBilling := billing == d.BillingMode
	if provisioned {
		if d.ProvisionedThroughput == nil {
			return nil, fmt.Errorf("billing mode PROVISIONED, but the recorded table is on-demand and records no capacity: "+
				"give one in a --table-definition file (ProvisionedThroughput and each index's) or keep %s", d.BillingMode)
		}
		in.ProvisionedThroughput = sdkThroughput(d.ProvisionedThroughput)
	} else if sameBilling {
		in.OnDemandThroughput = sdkOnDemand(d.OnDemandThroughput)
	}
	for _, g := range d.GlobalSecondaryIndexes {
		gi := types.GlobalSecondaryIndex{IndexName: aws.String(g.IndexName), KeySchema: sdkKeys(g.KeySchema), Projection: sdkProjection(g.Projection)}
		for _, k := range g.KeySchema {
			used[k.AttributeName] = true
		}
		switch {
		case provisioned && g.ProvisionedThroughput != nil:
			gi.ProvisionedThroughput = sdkThroughput(g.ProvisionedThroughput)
		case provisioned:
			gi.ProvisionedThroughput = sdkThroughput(d.ProvisionedThroughput)
		case sameBilling:
			gi.OnDemandThroughput = sdkOnDemand(g.OnDemandThroughput)
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gi)
	}
	for _, l := range d.LocalSecondaryIndexes {
		for _, k := range l.KeySchema {
			used[k.AttributeName] = true
		}
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{IndexName: aws.String(l.IndexName),
			KeySchema: sdkKeys(l.KeySchema), Projection: sdkProjection(l.Projection)})
	}
	for _, a := range d.AttributeDefinitions {
		if used[a.AttributeName] {
			in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(a.AttributeName),
				AttributeType: types.ScalarAttributeType(a.AttributeType)})
			delete(used, a.AttributeName)
		}
	}
	if len(used) > 0 {
		var names []string
		for n := range used {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("table definition: no attribute definition for %s", strings.Join(names, ", "))
	}
	sse, err := sseSpec(d.SSEDescription, o)
	if err != nil {
		return nil, err
	}
	in.SSESpecification = sse
	class := d.TableClass
	if o.TableClass != "" {
		class = o.TableClass
	}
	in.TableClass = types.TableClass(class)
	if d.DeletionProtectionEnabled && !o.NoDeletionProtection {
		in.DeletionProtectionEnabled = aws.Bool(true)
	}
	if o.WarmWriteUnits > 0 {
		in.WarmThroughput = &types.WarmThroughput{WriteUnitsPerSecond: aws.Int64(o.WarmWriteUnits)}
	}
	return in, nil
}

// sseSpec is the encryption of the new table: the override, or a
// customer or AWS managed KMS key as recorded; nothing (the AWS-owned
// key, DynamoDB's default) otherwise.
func sseSpec(s *SSEDescription, o Overrides) (*types.SSESpecification, error) {
	switch o.KMSKey {
	case "default":
		return nil, nil
	case "":
	default:
		return &types.SSESpecification{Enabled: aws.Bool(true), SSEType: types.SSETypeKms, KMSMasterKeyId: aws.String(o.KMSKey)}, nil
	}
	if s == nil || s.SSEType != string(types.SSETypeKms) || (s.Status != "" && s.Status != string(types.SSEStatusEnabled) && s.Status != string(types.SSEStatusUpdating)) {
		return nil, nil
	}
	spec := &types.SSESpecification{Enabled: aws.Bool(true), SSEType: types.SSETypeKms}
	if s.KMSMasterKeyArn != "" {
		if r := arnRegion(s.KMSMasterKeyArn); r != "" && o.Region != "" && r != o.Region {
			return nil, fmt.Errorf("the table was encrypted with KMS key %s of region %s, which cannot encrypt a table in %s: "+
				"pass --table-kms-key with a key of %s (or --table-kms-key default for DynamoDB's AWS-owned key)", s.KMSMasterKeyArn, r, o.Region, o.Region)
		}
		spec.KMSMasterKeyId = aws.String(s.KMSMasterKeyArn)
	}
	return spec, nil
}

func arnRegion(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}

func sdkKeys(ks []KeySchemaElement) []types.KeySchemaElement {
	out := make([]types.KeySchemaElement, 0, len(ks))
	for _, k := range ks {
		out = append(out, types.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: types.KeyType(k.KeyType)})
	}
	return out
}

func sdkProjection(p Projection) *types.Projection {
	out := &types.Projection{ProjectionType: types.ProjectionType(p.ProjectionType)}
	if p.ProjectionType == string(types.ProjectionTypeInclude) {
		out.NonKeyAttributes = append([]string(nil), p.NonKeyAttributes...)
	}
	return out
}

func sdkThroughput(t *Throughput) *types.ProvisionedThroughput {
	return &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(max(t.ReadCapacityUnits, 1)), WriteCapacityUnits: aws.Int64(max(t.WriteCapacityUnits, 1))}
}

func sdkOnDemand(o *OnDemandThroughput) *types.OnDemandThroughput {
	if o == nil {
		return nil
	}
	return &types.OnDemandThroughput{MaxReadRequestUnits: o.MaxReadRequestUnits, MaxWriteRequestUnits: o.MaxWriteRequestUnits}
}

// ImportParameters is ImportTable's TableCreationParameters for the same
// table as in: the table's key, attribute definitions, billing mode and
// capacities, on-demand limits, encryption and GSIs. ImportTable takes no
// LSIs, table class, deletion protection or warm throughput; the caller
// says what is left out.
func ImportParameters(in *dynamodb.CreateTableInput) ([]byte, error) {
	p := types.TableCreationParameters{TableName: in.TableName, AttributeDefinitions: in.AttributeDefinitions, KeySchema: in.KeySchema,
		BillingMode: in.BillingMode, GlobalSecondaryIndexes: in.GlobalSecondaryIndexes, OnDemandThroughput: in.OnDemandThroughput,
		ProvisionedThroughput: in.ProvisionedThroughput, SSESpecification: in.SSESpecification}
	if len(in.LocalSecondaryIndexes) > 0 {
		// An LSI's key attribute that no GSI or the table uses would make
		// ImportTable refuse the definitions.
		used := map[string]bool{}
		for _, k := range in.KeySchema {
			used[aws.ToString(k.AttributeName)] = true
		}
		for _, g := range in.GlobalSecondaryIndexes {
			for _, k := range g.KeySchema {
				used[aws.ToString(k.AttributeName)] = true
			}
		}
		p.AttributeDefinitions = nil
		for _, a := range in.AttributeDefinitions {
			if used[aws.ToString(a.AttributeName)] {
				p.AttributeDefinitions = append(p.AttributeDefinitions, a)
			}
		}
	}
	return compactJSON(p)
}

// compactJSON encodes an SDK value as the AWS CLI reads it: the SDK's
// field names, with nil, empty and zero-valued enum fields dropped.
func compactJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return json.Marshal(prune(m))
}

func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			x = prune(x)
			switch y := x.(type) {
			case nil:
				delete(t, k)
				continue
			case string:
				if y == "" {
					delete(t, k)
					continue
				}
			case []any:
				if len(y) == 0 {
					delete(t, k)
					continue
				}
			case map[string]any:
				if len(y) == 0 {
					delete(t, k)
					continue
				}
			}
			t[k] = x
		}
		return t
	case []any:
		for i := range t {
			t[i] = prune(t[i])
		}
		return t
	}
	return v
}
