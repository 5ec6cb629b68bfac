package tabledef_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// recorded is a definition as the writer stores it: dynasnap's part
// filled in.
func recorded(d *tabledef.Definition) *tabledef.Definition {
	d.Dynasnap.RecordedAt = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	d.Dynasnap.RecordedBy = "stream"
	d.Dynasnap.Tool = "dynasnap test"
	return d
}

// clone copies d through its stored form, so edits do not share slices.
func clone(t *testing.T, d *tabledef.Definition) *tabledef.Definition {
	t.Helper()
	b, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c, err := tabledef.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The stored body reads back as the same definition and encodes to the
// same bytes again, for both billing modes and with parts unread.
func TestMarshalParseRoundTrip(t *testing.T) {
	unread := wantProvisioned()
	unread.TimeToLiveDescription, unread.Tags, unread.PointInTimeRecovery = nil, nil, nil
	unread.Dynasnap.Unread = []string{tabledef.PartTimeToLive, tabledef.PartTags, tabledef.PartContinuousBackups}
	for name, d := range map[string]*tabledef.Definition{
		"provisioned": recorded(wantProvisioned()),
		"on demand":   recorded(wantOnDemand()),
		"unread":      recorded(unread),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := d.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(b, []byte("}\n")) || !bytes.Contains(b, []byte("\n  \"TableName\": \"orders\"")) {
				t.Errorf("not indented JSON ending in a newline:\n%s", b)
			}
			got, err := tabledef.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			diffJSON(t, got, d)
			b2, _ := got.Marshal()
			if !bytes.Equal(b, b2) {
				t.Errorf("second encoding differs:\n%s\n%s", b, b2)
			}
			if got.Hash() != d.Hash() {
				t.Error("hash changed over a round trip")
			}
		})
	}
}

// The stored body follows schemas/table-definition.schema.json, the
// contract for --table-definition files and snapshot readers.
func TestMarshalMatchesSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	f, err := os.Open("../../schemas/table-definition.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	const id = "https://dynasnap.dev/schemas/table-definition.schema.json"
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(id)
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]*tabledef.Definition{
		"provisioned": recorded(wantProvisioned()),
		"on demand":   recorded(wantOnDemand()),
		"described":   recorded(tabledef.FromDescribed(described(onDemandTable()))),
	} {
		b, _ := d.Marshal()
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(inst); err != nil {
			t.Errorf("%s: %v\n%s", name, err, b)
		}
	}
}

// The hash is of the content, not of one encoding of it: compact,
// indented or key-reordered bodies of one definition hash alike, and so do
// versions recorded at another time, by another writer or tool.
func TestHashStable(t *testing.T) {
	d := recorded(wantProvisioned())
	h := d.Hash()
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Fatalf("hash %q is not hex SHA-256", h)
	}
	compact, _ := json.Marshal(d)
	var generic map[string]any
	json.Unmarshal(compact, &generic)
	reordered, _ := json.MarshalIndent(generic, "\t", "\t") // map keys sorted: another field order
	for name, b := range map[string][]byte{"compact": compact, "reordered": reordered} {
		p, err := tabledef.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Hash() != h {
			t.Errorf("%s body hashes %s, want %s", name, p.Hash(), h)
		}
	}
	other := clone(t, d)
	other.Dynasnap.RecordedAt = other.Dynasnap.RecordedAt.Add(time.Hour)
	other.Dynasnap.RecordedBy = "backfill"
	other.Dynasnap.Tool = "dynasnap v9"
	if other.Hash() != h {
		t.Error("hash depends on when, by whom or with what the definition was recorded")
	}
	if d.Hash() != h || d.Dynasnap.RecordedBy != "stream" {
		t.Error("Hash changed the definition or is not deterministic")
	}
}

// Any change of the table must give a new version: every top-level field,
// and the nested ones restore reads.
func TestHashChanges(t *testing.T) {
	base := recorded(wantProvisioned())
	base.OnDemandThroughput = &tabledef.OnDemandThroughput{MaxReadRequestUnits: aws.Int64(7)} // so no field is zero
	base.GlobalTableVersion = "2019.11.21"
	base.Replicas = []tabledef.Replica{{RegionName: "us-west-2"}}
	base.ResourcePolicy = `{"Version":"2012-10-17"}`
	base.ContributorInsights = []tabledef.ContributorInsights{{ContributorInsightsStatus: "ENABLED"}}
	base.KinesisDataStreamDestinations = []tabledef.KinesisDestination{{StreamArn: "arn:aws:kinesis:eu-west-1:123456789012:stream/s"}}
	base.EventSourceMappings = []tabledef.EventSourceMapping{{FunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:dynasnap-stream"}}
	base.AutoScaling = &tabledef.AutoScaling{ScalableTargets: []tabledef.ScalableTarget{{ResourceId: "table/orders", ScalableDimension: "dynamodb:table:ReadCapacityUnits", MinCapacity: 1, MaxCapacity: 9}}}
	h := base.Hash()

	// Zeroing each field in turn: a field added later is covered without
	// a new line here.
	rv := reflect.ValueOf(base).Elem()
	for i := range rv.NumField() {
		name := rv.Type().Field(i).Name
		if name == "Dynasnap" {
			continue
		}
		c := clone(t, base)
		f := reflect.ValueOf(c).Elem().Field(i)
		if f.IsZero() {
			t.Errorf("%s is zero in the fixture", name)
			continue
		}
		f.SetZero()
		if c.Hash() == h {
			t.Errorf("clearing %s keeps the hash", name)
		}
	}

	edits := map[string]func(d *tabledef.Definition){
		"key type":              func(d *tabledef.Definition) { d.AttributeDefinitions[3].AttributeType = "S" },
		"key role":              func(d *tabledef.Definition) { d.KeySchema[1].KeyType = "HASH" },
		"read capacity":         func(d *tabledef.Definition) { d.ProvisionedThroughput.ReadCapacityUnits++ },
		"on-demand write limit": func(d *tabledef.Definition) { d.OnDemandThroughput.MaxWriteRequestUnits = aws.Int64(9) },
		"warm read":             func(d *tabledef.Definition) { d.WarmThroughput.ReadUnitsPerSecond = aws.Int64(1) },
		"GSI dropped":           func(d *tabledef.Definition) { d.GlobalSecondaryIndexes = d.GlobalSecondaryIndexes[:1] },
		"GSI renamed":           func(d *tabledef.Definition) { d.GlobalSecondaryIndexes[0].IndexName = "byClient" },
		"GSI projection":        func(d *tabledef.Definition) { d.GlobalSecondaryIndexes[0].Projection.ProjectionType = "ALL" },
		"GSI non-key attribute": func(d *tabledef.Definition) { d.GlobalSecondaryIndexes[1].Projection.NonKeyAttributes[1] = "sum" },
		"GSI key": func(d *tabledef.Definition) {
			d.GlobalSecondaryIndexes[1].KeySchema = d.GlobalSecondaryIndexes[1].KeySchema[:1]
		},
		"GSI capacity": func(d *tabledef.Definition) { d.GlobalSecondaryIndexes[0].ProvisionedThroughput.WriteCapacityUnits++ },
		"GSI warm": func(d *tabledef.Definition) {
			d.GlobalSecondaryIndexes[1].WarmThroughput.WriteUnitsPerSecond = aws.Int64(1)
		},
		"GSI on-demand": func(d *tabledef.Definition) {
			d.GlobalSecondaryIndexes[0].OnDemandThroughput = &tabledef.OnDemandThroughput{}
		},
		"LSI projection":             func(d *tabledef.Definition) { d.LocalSecondaryIndexes[0].Projection.ProjectionType = "KEYS_ONLY" },
		"LSI key":                    func(d *tabledef.Definition) { d.LocalSecondaryIndexes[0].KeySchema[1].AttributeName = "sk" },
		"stream view":                func(d *tabledef.Definition) { d.StreamSpecification.StreamViewType = "KEYS_ONLY" },
		"stream off":                 func(d *tabledef.Definition) { d.StreamSpecification.StreamEnabled = false },
		"KMS key":                    func(d *tabledef.Definition) { d.SSEDescription.KMSMasterKeyArn = "arn:aws:kms:eu-west-1:1:key/x" },
		"SSE status":                 func(d *tabledef.Definition) { d.SSEDescription.Status = "UPDATING" },
		"table class":                func(d *tabledef.Definition) { d.TableClass = "STANDARD" },
		"TTL attribute":              func(d *tabledef.Definition) { d.TimeToLiveDescription.AttributeName = "ttl" },
		"TTL status":                 func(d *tabledef.Definition) { d.TimeToLiveDescription.TimeToLiveStatus = "DISABLED" },
		"tag value":                  func(d *tabledef.Definition) { d.Tags[0].Value = "staging" },
		"tag added":                  func(d *tabledef.Definition) { d.Tags = append(d.Tags, tabledef.Tag{Key: "z", Value: ""}) },
		"PITR status":                func(d *tabledef.Definition) { d.PointInTimeRecovery.PointInTimeRecoveryStatus = "DISABLED" },
		"PITR period":                func(d *tabledef.Definition) { d.PointInTimeRecovery.RecoveryPeriodInDays = aws.Int32(35) },
		"creation time":              func(d *tabledef.Definition) { *d.CreationDateTime = d.CreationDateTime.Add(time.Second) },
		"format version":             func(d *tabledef.Definition) { d.Dynasnap.FormatVersion = 0 },
		"a part becomes unreadable":  func(d *tabledef.Definition) { d.Dynasnap.Unread = []string{tabledef.PartTags} },
		"deletion protection turned": func(d *tabledef.Definition) { d.DeletionProtectionEnabled = false },
	}
	for name, edit := range edits {
		c := clone(t, base)
		edit(c)
		if c.Hash() == h {
			t.Errorf("%s: hash unchanged", name)
		}
	}
}

func TestParse(t *testing.T) {
	good, _ := recorded(wantProvisioned()).Marshal()
	tests := []struct {
		name    string
		doc     string
		wantErr string // "" for accepted
	}{
		{name: "as stored", doc: string(good)},
		// A newer writer's body may mean something this reader would get
		// wrong: refused, with what to do.
		{name: "newer format version", doc: strings.Replace(string(good), `"formatVersion": 1`, `"formatVersion": 2`, 1),
			wantErr: "table definition has format version 2; this dynasnap reads up to 1: upgrade it"},
		// Hand-written --table-definition files may leave dynasnap's part
		// out (version 0); only the key is required.
		{name: "no dynasnap part", doc: `{"TableName":"t","KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],
			"AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}]}`},
		// Fields this version does not know (or DescribeTable's counts
		// pasted in) are ignored.
		{name: "unknown fields", doc: strings.Replace(string(good), `"TableName": "orders",`,
			`"TableName": "orders", "ItemCount": 42, "ReplicaDescription": [{}],`, 1)},
		{name: "not JSON", doc: `{"TableName":`, wantErr: "table definition: unexpected end of JSON input"},
		{name: "wrong type", doc: `{"TableName": 5}`, wantErr: "table definition: json: cannot unmarshal number"},
		{name: "describe-table output", doc: `{"Table":{"TableName":"t"}}`, wantErr: "table definition has no KeySchema"},
		{name: "key without attribute definition", doc: `{"TableName":"t","KeySchema":[{"AttributeName":"id","KeyType":"HASH"}]}`,
			wantErr: `table definition: key attribute "id" has no attribute definition`},
		{name: "bad key type", doc: `{"TableName":"t","KeySchema":[{"AttributeName":"id","KeyType":"PRIMARY"}],
			"AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}]}`,
			wantErr: `table definition: key attribute "id" has key type "PRIMARY"`},
		{name: "range key only", doc: `{"TableName":"t","KeySchema":[{"AttributeName":"id","KeyType":"RANGE"}],
			"AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}]}`,
			wantErr: "table definition of t has no partition (HASH) key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tabledef.Parse([]byte(tt.doc))
			if tt.wantErr == "" {
				if err != nil || d == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if d != nil {
				t.Errorf("a refused document still gave %+v", d)
			}
		})
	}
}

// TTL counts as on while DynamoDB is turning it on, and off while turning
// it off: what a restore must set once the items are in.
func TestTTLAttribute(t *testing.T) {
	for status, want := range map[string]string{"ENABLED": "expiresAt", "ENABLING": "expiresAt", "DISABLING": "", "DISABLED": "", "": ""} {
		d := &tabledef.Definition{TimeToLiveDescription: &tabledef.TimeToLive{TimeToLiveStatus: status, AttributeName: "expiresAt"}}
		if got := d.TTLAttribute(); got != want {
			t.Errorf("status %q: TTLAttribute %q, want %q", status, got, want)
		}
	}
	if got := (&tabledef.Definition{}).TTLAttribute(); got != "" {
		t.Errorf("TTL unread: %q", got)
	}
}
