// Package tabledef is a table's definition as the backup records it
// (docs/DESIGN.md §2.8): what DescribeTable, DescribeTimeToLive,
// ListTagsOfResource and DescribeContinuousBackups say about the table,
// kept as one versioned object beside the table's item folder so that it has
// a history like the items. The stream writer and backfill record it
// (Record); snapshot copies the version in force at its time (At); restore
// and drill create a table from it (CreateInput) and verify compares a
// table with it (Compare).
package tabledef

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/keyschema"
)

// FormatVersion of the definition object and of a snapshot's
// table-definition.json (schemas/table-definition.schema.json).
const FormatVersion = 1

// Definition is the recorded table. Field names are those of the DynamoDB
// API (TableDescription, CreateTable); what only dynasnap knows is under
// "dynasnap". Only what describes the table's shape and settings is kept:
// item counts, sizes, statuses and capacity change dates are left out, so
// the definition changes (and gets a new version) only when the table does.
type Definition struct {
	TableName                 string               `json:"TableName"`
	TableArn                  string               `json:"TableArn,omitempty"`
	TableId                   string               `json:"TableId,omitempty"`
	CreationDateTime          *time.Time           `json:"CreationDateTime,omitempty"`
	KeySchema                 []KeySchemaElement   `json:"KeySchema"`
	AttributeDefinitions      []AttributeDef       `json:"AttributeDefinitions"`
	BillingMode               string               `json:"BillingMode"` // PROVISIONED or PAY_PER_REQUEST
	ProvisionedThroughput     *Throughput          `json:"ProvisionedThroughput,omitempty"`
	OnDemandThroughput        *OnDemandThroughput  `json:"OnDemandThroughput,omitempty"`
	WarmThroughput            *WarmThroughput      `json:"WarmThroughput,omitempty"`
	GlobalSecondaryIndexes    []GlobalIndex        `json:"GlobalSecondaryIndexes,omitempty"`
	LocalSecondaryIndexes     []LocalIndex         `json:"LocalSecondaryIndexes,omitempty"`
	StreamSpecification       *StreamSpecification `json:"StreamSpecification,omitempty"`
	SSEDescription            *SSEDescription      `json:"SSEDescription,omitempty"`
	TableClass                string               `json:"TableClass,omitempty"`
	DeletionProtectionEnabled bool                 `json:"DeletionProtectionEnabled"`
	TimeToLiveDescription     *TimeToLive          `json:"TimeToLiveDescription,omitempty"`
	Tags                      []Tag                `json:"Tags,omitempty"`
	PointInTimeRecovery       *PointInTimeRecovery `json:"PointInTimeRecoveryDescription,omitempty"`
	// GlobalTableVersion and Replicas (DescribeTable): every region of a
	// global table (version 2019.11.21), the described table's own too;
	// restore creates those other than its own region.
	GlobalTableVersion string    `json:"GlobalTableVersion,omitempty"`
	Replicas           []Replica `json:"Replicas,omitempty"`
	// ResourcePolicy is the policy document GetResourcePolicy returns.
	ResourcePolicy string `json:"ResourcePolicy,omitempty"`
	// ContributorInsights lists the table (no IndexName) and the GSIs
	// with Contributor Insights on (DescribeContributorInsights).
	ContributorInsights []ContributorInsights `json:"ContributorInsights,omitempty"`
	// KinesisDataStreamDestinations are the active Kinesis streaming
	// destinations (DescribeKinesisStreamingDestination).
	KinesisDataStreamDestinations []KinesisDestination `json:"KinesisDataStreamDestinations,omitempty"`
	// AutoScaling is Application Auto Scaling's scalable targets and
	// policies of the table and its GSIs.
	AutoScaling *AutoScaling `json:"AutoScaling,omitempty"`
	// EventSourceMappings are the Lambda triggers of the table's stream
	// (ListEventSourceMappings), the stream writer's among them.
	EventSourceMappings []EventSourceMapping `json:"EventSourceMappings,omitempty"`
	Dynasnap            Details              `json:"dynasnap"`
}

// Details is dynasnap's part of a definition.
type Details struct {
	FormatVersion int       `json:"formatVersion"`
	RecordedAt    time.Time `json:"recordedAt"`
	RecordedBy    string    `json:"recordedBy"` // stream or backfill
	Tool          string    `json:"tool,omitempty"`
	// Unread names the parts the writer could not read (timeToLive, tags,
	// continuousBackups), mostly for lack of permission: restore leaves
	// those settings alone instead of taking them for absent.
	Unread []string `json:"unread,omitempty"`
}

type KeySchemaElement struct {
	AttributeName string `json:"AttributeName"`
	KeyType       string `json:"KeyType"` // HASH or RANGE
}

type AttributeDef struct {
	AttributeName string `json:"AttributeName"`
	AttributeType string `json:"AttributeType"` // S, N or B
}

type Throughput struct {
	ReadCapacityUnits  int64 `json:"ReadCapacityUnits"`
	WriteCapacityUnits int64 `json:"WriteCapacityUnits"`
}

type OnDemandThroughput struct {
	MaxReadRequestUnits  *int64 `json:"MaxReadRequestUnits,omitempty"`
	MaxWriteRequestUnits *int64 `json:"MaxWriteRequestUnits,omitempty"`
}

type WarmThroughput struct {
	ReadUnitsPerSecond  *int64 `json:"ReadUnitsPerSecond,omitempty"`
	WriteUnitsPerSecond *int64 `json:"WriteUnitsPerSecond,omitempty"`
}

type Projection struct {
	ProjectionType   string   `json:"ProjectionType"` // ALL, KEYS_ONLY or INCLUDE
	NonKeyAttributes []string `json:"NonKeyAttributes,omitempty"`
}

type GlobalIndex struct {
	IndexName             string              `json:"IndexName"`
	KeySchema             []KeySchemaElement  `json:"KeySchema"`
	Projection            Projection          `json:"Projection"`
	ProvisionedThroughput *Throughput         `json:"ProvisionedThroughput,omitempty"`
	OnDemandThroughput    *OnDemandThroughput `json:"OnDemandThroughput,omitempty"`
	WarmThroughput        *WarmThroughput     `json:"WarmThroughput,omitempty"`
}

type LocalIndex struct {
	IndexName  string             `json:"IndexName"`
	KeySchema  []KeySchemaElement `json:"KeySchema"`
	Projection Projection         `json:"Projection"`
}

type StreamSpecification struct {
	StreamEnabled  bool   `json:"StreamEnabled"`
	StreamViewType string `json:"StreamViewType,omitempty"`
}

type SSEDescription struct {
	Status          string `json:"Status,omitempty"`  // ENABLED, ...
	SSEType         string `json:"SSEType,omitempty"` // KMS (AES256 is the AWS-owned default)
	KMSMasterKeyArn string `json:"KMSMasterKeyArn,omitempty"`
}

type TimeToLive struct {
	TimeToLiveStatus string `json:"TimeToLiveStatus"` // ENABLED, ENABLING, DISABLED, DISABLING
	AttributeName    string `json:"AttributeName,omitempty"`
}

type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type PointInTimeRecovery struct {
	PointInTimeRecoveryStatus string `json:"PointInTimeRecoveryStatus"` // ENABLED or DISABLED
	RecoveryPeriodInDays      *int32 `json:"RecoveryPeriodInDays,omitempty"`
}

// Unread part names.
const (
	PartTimeToLive        = "timeToLive"
	PartTags              = "tags"
	PartContinuousBackups = "continuousBackups"
	PartAutoScaling       = "autoScaling"
	PartResourcePolicy    = "resourcePolicy"
	PartContributors      = "contributorInsights"
	PartKinesis           = "kinesisStreamingDestinations"
	PartTriggers          = "eventSourceMappings"
)

// Unread reports whether part could not be read when d was recorded.
func (d *Definition) Unread(part string) bool { return slices.Contains(d.Dynasnap.Unread, part) }

// Key is the table's primary key.
func (d *Definition) Key() (keyschema.Schema, error) {
	var ks keyschema.Schema
	for _, k := range d.KeySchema {
		t := d.attrType(k.AttributeName)
		if t == "" {
			return ks, fmt.Errorf("table definition: key attribute %q has no attribute definition", k.AttributeName)
		}
		a := keyschema.Attr{Name: k.AttributeName, Type: types.ScalarAttributeType(t)}
		switch k.KeyType {
		case "HASH":
			ks.Hash = a
		case "RANGE":
			ks.Range = a
		default:
			return ks, fmt.Errorf("table definition: key attribute %q has key type %q", k.AttributeName, k.KeyType)
		}
	}
	if ks.Hash.Name == "" {
		return ks, fmt.Errorf("table definition of %s has no partition (HASH) key", d.TableName)
	}
	return ks, nil
}

func (d *Definition) attrType(name string) string {
	for _, a := range d.AttributeDefinitions {
		if a.AttributeName == name {
			return a.AttributeType
		}
	}
	return ""
}

// TTLAttribute is the name of the TTL attribute when TTL is on (ENABLED or
// ENABLING), else "".
func (d *Definition) TTLAttribute() string {
	if t := d.TimeToLiveDescription; t != nil && (t.TimeToLiveStatus == "ENABLED" || t.TimeToLiveStatus == "ENABLING") {
		return t.AttributeName
	}
	return ""
}

// Hash identifies the definition's content, leaving out when and by whom
// it was recorded: the writer stores a new version only when it changes.
func (d *Definition) Hash() string {
	c := *d
	c.Dynasnap = Details{FormatVersion: d.Dynasnap.FormatVersion, Unread: d.Dynasnap.Unread}
	b, _ := json.Marshal(&c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Marshal encodes the definition as stored: indented JSON.
func (d *Definition) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Parse reads a definition (a stored version, a snapshot's
// table-definition.json or a --table-definition file).
func Parse(b []byte) (*Definition, error) {
	var d Definition
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("table definition: %w", err)
	}
	if d.Dynasnap.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("table definition has format version %d; this dynasnap reads up to %d: upgrade it", d.Dynasnap.FormatVersion, FormatVersion)
	}
	if len(d.KeySchema) == 0 {
		return nil, fmt.Errorf("table definition has no KeySchema")
	}
	if _, err := d.Key(); err != nil {
		return nil, err
	}
	return &d, nil
}

// Described is what the describe calls returned; nil parts were not
// read (their names go in Unread).
type Described struct {
	Table      *types.TableDescription
	TimeToLive *types.TimeToLiveDescription
	Tags       []types.Tag
	TagsRead   bool
	Backups    *types.ContinuousBackupsDescription
	Extra      Extra
}

// FromDescribed builds a definition from what DynamoDB answered.
func FromDescribed(in Described) *Definition {
	t := in.Table
	d := &Definition{TableName: aws.ToString(t.TableName), TableArn: aws.ToString(t.TableArn), TableId: aws.ToString(t.TableId),
		KeySchema: keys(t.KeySchema), BillingMode: string(types.BillingModeProvisioned),
		DeletionProtectionEnabled: aws.ToBool(t.DeletionProtectionEnabled)}
	if t.CreationDateTime != nil {
		ct := t.CreationDateTime.UTC()
		d.CreationDateTime = &ct
	}
	for _, a := range t.AttributeDefinitions {
		d.AttributeDefinitions = append(d.AttributeDefinitions, AttributeDef{aws.ToString(a.AttributeName), string(a.AttributeType)})
	}
	sort.Slice(d.AttributeDefinitions, func(i, j int) bool {
		return d.AttributeDefinitions[i].AttributeName < d.AttributeDefinitions[j].AttributeName
	})
	if t.BillingModeSummary != nil && t.BillingModeSummary.BillingMode != "" {
		d.BillingMode = string(t.BillingModeSummary.BillingMode)
	}
	onDemand := d.BillingMode == string(types.BillingModePayPerRequest)
	if !onDemand {
		d.ProvisionedThroughput = throughput(t.ProvisionedThroughput)
	}
	d.OnDemandThroughput = onDemandOf(t.OnDemandThroughput)
	if w := t.WarmThroughput; w != nil && (w.ReadUnitsPerSecond != nil || w.WriteUnitsPerSecond != nil) {
		d.WarmThroughput = &WarmThroughput{ReadUnitsPerSecond: w.ReadUnitsPerSecond, WriteUnitsPerSecond: w.WriteUnitsPerSecond}
	}
	for _, g := range t.GlobalSecondaryIndexes {
		gi := GlobalIndex{IndexName: aws.ToString(g.IndexName), KeySchema: keys(g.KeySchema), Projection: projection(g.Projection),
			OnDemandThroughput: onDemandOf(g.OnDemandThroughput)}
		if !onDemand {
			gi.ProvisionedThroughput = throughput(g.ProvisionedThroughput)
		}
		if w := g.WarmThroughput; w != nil && (w.ReadUnitsPerSecond != nil || w.WriteUnitsPerSecond != nil) {
			gi.WarmThroughput = &WarmThroughput{ReadUnitsPerSecond: w.ReadUnitsPerSecond, WriteUnitsPerSecond: w.WriteUnitsPerSecond}
		}
		d.GlobalSecondaryIndexes = append(d.GlobalSecondaryIndexes, gi)
	}
	sort.Slice(d.GlobalSecondaryIndexes, func(i, j int) bool {
		return d.GlobalSecondaryIndexes[i].IndexName < d.GlobalSecondaryIndexes[j].IndexName
	})
	for _, l := range t.LocalSecondaryIndexes {
		d.LocalSecondaryIndexes = append(d.LocalSecondaryIndexes, LocalIndex{IndexName: aws.ToString(l.IndexName),
			KeySchema: keys(l.KeySchema), Projection: projection(l.Projection)})
	}
	sort.Slice(d.LocalSecondaryIndexes, func(i, j int) bool {
		return d.LocalSecondaryIndexes[i].IndexName < d.LocalSecondaryIndexes[j].IndexName
	})
	if s := t.StreamSpecification; s != nil {
		d.StreamSpecification = &StreamSpecification{StreamEnabled: aws.ToBool(s.StreamEnabled), StreamViewType: string(s.StreamViewType)}
	}
	if s := t.SSEDescription; s != nil && (s.Status != "" || s.SSEType != "" || s.KMSMasterKeyArn != nil) {
		d.SSEDescription = &SSEDescription{Status: string(s.Status), SSEType: string(s.SSEType), KMSMasterKeyArn: aws.ToString(s.KMSMasterKeyArn)}
	}
	if c := t.TableClassSummary; c != nil {
		d.TableClass = string(c.TableClass)
	}
	if d.TableClass == "" {
		d.TableClass = string(types.TableClassStandard)
	}
	if in.TimeToLive != nil {
		d.TimeToLiveDescription = &TimeToLive{TimeToLiveStatus: string(in.TimeToLive.TimeToLiveStatus), AttributeName: aws.ToString(in.TimeToLive.AttributeName)}
		if d.TimeToLiveDescription.TimeToLiveStatus == "" {
			d.TimeToLiveDescription.TimeToLiveStatus = string(types.TimeToLiveStatusDisabled)
		}
	} else {
		d.Dynasnap.Unread = append(d.Dynasnap.Unread, PartTimeToLive)
	}
	if in.TagsRead {
		for _, tg := range in.Tags {
			d.Tags = append(d.Tags, Tag{aws.ToString(tg.Key), aws.ToString(tg.Value)})
		}
		sort.Slice(d.Tags, func(i, j int) bool { return d.Tags[i].Key < d.Tags[j].Key })
	} else {
		d.Dynasnap.Unread = append(d.Dynasnap.Unread, PartTags)
	}
	if b := in.Backups; b != nil {
		p := &PointInTimeRecovery{PointInTimeRecoveryStatus: string(types.PointInTimeRecoveryStatusDisabled)}
		if pd := b.PointInTimeRecoveryDescription; pd != nil {
			if pd.PointInTimeRecoveryStatus != "" {
				p.PointInTimeRecoveryStatus = string(pd.PointInTimeRecoveryStatus)
			}
			p.RecoveryPeriodInDays = pd.RecoveryPeriodInDays
		}
		d.PointInTimeRecovery = p
	} else {
		d.Dynasnap.Unread = append(d.Dynasnap.Unread, PartContinuousBackups)
	}
	in.Extra.apply(d, t)
	d.Dynasnap.FormatVersion = FormatVersion
	return d
}

func keys(ks []types.KeySchemaElement) []KeySchemaElement {
	out := make([]KeySchemaElement, 0, len(ks))
	for _, k := range ks {
		out = append(out, KeySchemaElement{aws.ToString(k.AttributeName), string(k.KeyType)})
	}
	// HASH first, as DynamoDB requires.
	sort.SliceStable(out, func(i, j int) bool { return out[i].KeyType == "HASH" && out[j].KeyType != "HASH" })
	return out
}

func projection(p *types.Projection) Projection {
	if p == nil {
		return Projection{ProjectionType: string(types.ProjectionTypeAll)}
	}
	out := Projection{ProjectionType: string(p.ProjectionType), NonKeyAttributes: append([]string(nil), p.NonKeyAttributes...)}
	if out.ProjectionType == "" {
		out.ProjectionType = string(types.ProjectionTypeAll)
	}
	sort.Strings(out.NonKeyAttributes)
	return out
}

func throughput(p *types.ProvisionedThroughputDescription) *Throughput {
	if p == nil || (aws.ToInt64(p.ReadCapacityUnits) == 0 && aws.ToInt64(p.WriteCapacityUnits) == 0) {
		return nil
	}
	return &Throughput{ReadCapacityUnits: aws.ToInt64(p.ReadCapacityUnits), WriteCapacityUnits: aws.ToInt64(p.WriteCapacityUnits)}
}

func onDemandOf(o *types.OnDemandThroughput) *OnDemandThroughput {
	// -1 is DynamoDB's "no limit".
	if o == nil {
		return nil
	}
	r, w := o.MaxReadRequestUnits, o.MaxWriteRequestUnits
	if r != nil && *r <= 0 {
		r = nil
	}
	if w != nil && *w <= 0 {
		w = nil
	}
	if r == nil && w == nil {
		return nil
	}
	return &OnDemandThroughput{MaxReadRequestUnits: r, MaxWriteRequestUnits: w}
}
