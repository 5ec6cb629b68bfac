package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/tabledef"
	"github.com/dynasnap/dynasnap/internal/testsupport/ddbapi"
	"github.com/dynasnap/dynasnap/internal/testsupport/memsource"
)

// fakeDynamoDB is the whole TableAPI in memory: a table that exists or
// not (with a key and a few items), the CreateTable requests it got, and
// the settings set after a load. Restore's decisions about the table are
// tested against it without a server.
type fakeDynamoDB struct {
	*fakeTable // BatchWriteItem
	ddbapi.NoSettings
	mu      sync.Mutex
	exists  bool
	key     keyschema.Schema
	held    int // items already in the table
	created []*dynamodb.CreateTableInput
	ttl     []string
}

func (f *fakeDynamoDB) DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.exists {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no table")}
	}
	keys, attrs := f.key.Definition()
	return &dynamodb.DescribeTableOutput{Table: &types.TableDescription{TableName: in.TableName, TableArn: aws.String("arn:aws:dynamodb:us-east-1:111122223333:table/" + aws.ToString(in.TableName)),
		KeySchema: keys, AttributeDefinitions: attrs, TableStatus: types.TableStatusActive}}, nil
}

func (f *fakeDynamoDB) CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.exists {
		return nil, &types.ResourceInUseException{Message: aws.String("exists")}
	}
	var ks keyschema.Schema
	for _, k := range in.KeySchema {
		a := keyschema.Attr{Name: aws.ToString(k.AttributeName)}
		for _, d := range in.AttributeDefinitions {
			if aws.ToString(d.AttributeName) == a.Name {
				a.Type = d.AttributeType
			}
		}
		if k.KeyType == types.KeyTypeHash {
			ks.Hash = a
		} else {
			ks.Range = a
		}
	}
	f.exists, f.key, f.created = true, ks, append(f.created, in)
	return &dynamodb.CreateTableOutput{}, nil
}

func (f *fakeDynamoDB) Scan(ctx context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &dynamodb.ScanOutput{Count: int32(min(f.held, 1))}, nil
}

func (f *fakeDynamoDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{}, nil
}

// PutItem and DeleteItem are restore --undo's; these tests never undo.
func (f *fakeDynamoDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, errors.New("PutItem: not faked")
}

func (f *fakeDynamoDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, errors.New("DeleteItem: not faked")
}

func (f *fakeDynamoDB) UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ttl = append(f.ttl, aws.ToString(in.TimeToLiveSpecification.AttributeName))
	return &dynamodb.UpdateTimeToLiveOutput{}, nil
}

func (f *fakeDynamoDB) TagResource(ctx context.Context, in *dynamodb.TagResourceInput, _ ...func(*dynamodb.Options)) (*dynamodb.TagResourceOutput, error) {
	return &dynamodb.TagResourceOutput{}, nil
}

func (f *fakeDynamoDB) UpdateContinuousBackups(ctx context.Context, in *dynamodb.UpdateContinuousBackupsInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateContinuousBackupsOutput, error) {
	return &dynamodb.UpdateContinuousBackupsOutput{}, nil
}

var pkOnly = keyschema.Schema{Hash: keyschema.Attr{Name: "pk", Type: types.ScalarAttributeTypeS}}

// memBackup is a backup folder in memory with n items (pk "0".."n-1", an
// expired TTL on the first), written at second 100, and the table's
// definition if def is set; it is restored at second 200.
func memBackup(t *testing.T, n int, def *tabledef.Definition) *Versions {
	t.Helper()
	b := memsource.New("b")
	loc := layout.TableLocation("b", "p", "t")
	for i := range n {
		body := fmt.Sprintf(`{"pk":{"S":"%d"},"v":{"N":"1"}}`, i)
		if i == 0 {
			body = fmt.Sprintf(`{"pk":{"S":"0"},"exp":{"N":"%d"}}`, time.Now().Add(-time.Hour).Unix())
		}
		it, err := item.Unmarshal([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := item.KeyID(it, "pk")
		b.Put(loc.ObjectKey(id), []byte(body), time.Unix(100, 0))
	}
	if def != nil {
		body, err := def.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		b.Put(tabledef.ObjectKey(loc), body, time.Unix(50, 0))
	}
	return &Versions{Source: b, Options: VersionsOptions{Source: loc, At: time.Unix(200, 0), ClockSkew: -1}}
}

// recorded is a definition with the key pk, a TTL attribute and
// deletion protection, provisioned.
func recorded() *tabledef.Definition {
	d := KeyOnly(pkOnly)
	d.TableName, d.BillingMode = "t", string(types.BillingModeProvisioned)
	d.ProvisionedThroughput = &tabledef.Throughput{ReadCapacityUnits: 5, WriteCapacityUnits: 7}
	d.DeletionProtectionEnabled = true
	d.TimeToLiveDescription = &tabledef.TimeToLive{AttributeName: "exp", TimeToLiveStatus: "ENABLED"}
	return d
}

func restoreInto(t *testing.T, api *fakeDynamoDB, src Source, opts Options) (*Report, error) {
	t.Helper()
	if opts.Table == "" {
		opts.Table = "target"
	}
	prepared := 0
	opts.Prepared = func(ctx context.Context, rep *Report) error { prepared++; return nil }
	rep, err := Restore(context.Background(), api, src, opts)
	if rep == nil {
		t.Fatal("no report")
	}
	if err == nil && prepared != 1 {
		t.Errorf("Prepared ran %d times, want once", prepared)
	}
	return rep, err
}

// A table created from the recorded definition: as recorded, with the
// overrides, TTL set after the load, expired items left out.
func TestRestoreCreatesFromDefinition(t *testing.T) {
	api := &fakeDynamoDB{fakeTable: newFakeTable()}
	rep, err := restoreInto(t, api, memBackup(t, 3, recorded()), Options{Create: true, Overrides: tabledef.Overrides{WarmWriteUnits: 9000}})
	if err != nil {
		t.Fatal(err)
	}
	if len(api.created) != 1 || !rep.Created {
		t.Fatalf("%d tables created, report says %v", len(api.created), rep.Created)
	}
	in := api.created[0]
	if in.BillingMode != types.BillingModeProvisioned || aws.ToInt64(in.ProvisionedThroughput.WriteCapacityUnits) != 7 ||
		!aws.ToBool(in.DeletionProtectionEnabled) || in.WarmThroughput == nil || aws.ToInt64(in.WarmThroughput.WriteUnitsPerSecond) != 9000 {
		t.Errorf("created %+v", in)
	}
	if !strings.Contains(rep.DefinitionFrom, "version") || rep.Definition == nil {
		t.Errorf("definition from %q", rep.DefinitionFrom)
	}
	if len(api.ttl) != 1 || api.ttl[0] != "exp" || len(rep.AfterLoad.Done) != 1 || rep.AfterLoadErr != nil {
		t.Errorf("after load: ttl %v, report %v %v", api.ttl, rep.AfterLoad, rep.AfterLoadErr)
	}
	if rep.Expiry == nil || rep.Expired != 1 || rep.Puts != 2 || len(api.items) != 2 {
		t.Errorf("expired %d, puts %d, table %d items", rep.Expired, rep.Puts, len(api.items))
	}
}

// A backup without a definition: the key only, on-demand, and the warm
// throughput still applies (drill's key-only table used to go without).
func TestRestoreCreatesKeyOnlyWarm(t *testing.T) {
	for _, given := range []*keyschema.Schema{nil, &pkOnly} {
		api := &fakeDynamoDB{fakeTable: newFakeTable()}
		rep, err := restoreInto(t, api, memBackup(t, 2, nil), Options{Create: true, KeySchema: given, Overrides: tabledef.Overrides{WarmWriteUnits: 12000}})
		if err != nil {
			t.Fatal(err)
		}
		in := api.created[0]
		if in.BillingMode != types.BillingModePayPerRequest || len(in.KeySchema) != 1 || in.WarmThroughput == nil ||
			aws.ToInt64(in.WarmThroughput.WriteUnitsPerSecond) != 12000 || in.DeletionProtectionEnabled != nil {
			t.Errorf("given %v: created %+v", given, in)
		}
		if rep.KeySchema.String() != pkOnly.String() || !strings.Contains(rep.DefinitionNote, "records no table definition") || rep.Expiry != nil {
			t.Errorf("given %v: key %s, note %q", given, rep.KeySchema, rep.DefinitionNote)
		}
		if len(api.ttl) != 0 || rep.AfterLoad.Done != nil {
			t.Errorf("settings set on a key-only table: %v", api.ttl)
		}
	}
}

// Every refusal happens before anything is created or written.
func TestRestoreRefusals(t *testing.T) {
	other := keyschema.Schema{Hash: keyschema.Attr{Name: "id", Type: types.ScalarAttributeTypeN}}
	withoutTTL := recorded()
	withoutTTL.TimeToLiveDescription = nil
	for _, c := range []struct {
		name string
		api  *fakeDynamoDB
		def  *tabledef.Definition
		opts Options
		want string
	}{
		{"no table", &fakeDynamoDB{}, nil, Options{}, "does not exist: create it, or pass --create-table"},
		{"exists", &fakeDynamoDB{exists: true, key: pkOnly}, nil, Options{Create: true}, "exists already"},
		{"holds items", &fakeDynamoDB{exists: true, key: pkOnly, held: 1}, nil, Options{}, "already holds items"},
		{"table's key", &fakeDynamoDB{exists: true, key: pkOnly}, nil, Options{KeySchema: &other}, "but table target's key is pk:S"},
		{"definition's key", &fakeDynamoDB{}, withoutTTL, Options{Create: true, KeySchema: &other}, "but the table definition"},
		{"override without definition", &fakeDynamoDB{}, nil, Options{Create: true, Overrides: tabledef.Overrides{BillingMode: "PROVISIONED"}}, "pass --table-definition"},
		{"provisioned without capacity", &fakeDynamoDB{}, KeyOnly(pkOnly), Options{Create: true, Overrides: tabledef.Overrides{BillingMode: "PROVISIONED"}}, "records no capacity"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.api.fakeTable = newFakeTable()
			_, err := restoreInto(t, c.api, memBackup(t, 2, c.def), c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if len(c.api.created) != 0 || c.api.calls.Load() != 0 {
				t.Errorf("%d tables created, %d writes", len(c.api.created), c.api.calls.Load())
			}
		})
	}
}

// Into a live table: --overwrite, a rewind and one key skip the
// emptiness check; a --key must be the table's key, else a RequestError.
func TestRestoreIntoLiveTable(t *testing.T) {
	api := &fakeDynamoDB{fakeTable: newFakeTable(), exists: true, key: pkOnly, held: 1}
	if _, err := restoreInto(t, api, memBackup(t, 2, nil), Options{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	src := memBackup(t, 2, nil)
	src.Options.Rewind = true
	if _, err := restoreInto(t, api, src, Options{}); err != nil {
		t.Fatal(err)
	}
	src = memBackup(t, 2, nil)
	src.Options.Key = item.Item{"id": &types.AttributeValueMemberS{Value: "1"}}
	var re *RequestError
	if _, err := restoreInto(t, api, src, Options{}); !errors.As(err, &re) || !strings.Contains(err.Error(), `--key has no attribute "pk"`) {
		t.Fatalf("got %v, want a RequestError", err)
	}
}

// What limited the write rate is a kind, with the figures, not a sentence.
func TestRestoreLimit(t *testing.T) {
	warm := &dynamodb.CreateTableInput{WarmThroughput: &types.WarmThroughput{WriteUnitsPerSecond: aws.Int64(40000)}}
	for _, c := range []struct {
		res    Result
		maxWCU float64
		in     *dynamodb.CreateTableInput
		want   Limit
	}{
		{Result{Puts: 100, Elapsed: time.Second, Throttled: 2}, 0, warm, Limit{Kind: LimitTable, Rate: 100, WarmWriteUnits: 40000}},
		{Result{Puts: 100, Elapsed: time.Second, Unprocessed: 1}, 0, nil, Limit{Kind: LimitTable, Rate: 100}},
		{Result{Puts: 90, Elapsed: time.Second}, 100, nil, Limit{Kind: LimitMaxWCU, Rate: 90}},
		{Result{Puts: 50, Elapsed: time.Second}, 100, nil, Limit{Kind: LimitClient, Rate: 50}},
	} {
		r := &run{opts: Options{MaxWCU: c.maxWCU}, w: &Writer{Workers: 8}, rep: &Report{Table: Table{CreateInput: c.in}}}
		c.want.MaxWCU, c.want.Workers = c.maxWCU, 8
		if got := r.limit(&c.res); got != c.want {
			t.Errorf("%+v, --max-wcu %v: %+v, want %+v", c.res, c.maxWCU, got, c.want)
		}
	}
}

// The ImportTable hint's table: a definition that gives no CreateTable
// request is said in a note (it used to be dropped).
func TestImportInputNotesABadDefinition(t *testing.T) {
	r := &run{opts: Options{Overrides: tabledef.Overrides{BillingMode: "PROVISIONED"}}, rep: &Report{Table: Table{Name: "t", Definition: KeyOnly(pkOnly)}}}
	in, notes, err := r.importInput(pkOnly)
	if err != nil || in == nil || len(notes) != 1 || !strings.Contains(notes[0], "records no capacity") {
		t.Fatalf("%+v %q %v", in, notes, err)
	}
}
