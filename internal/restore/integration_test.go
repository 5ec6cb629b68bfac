package restore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/itemcmp"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// withKey returns a copy of it whose hash key value is changed by i.
func withKey(it item.Item, hash string, i int) item.Item {
	out := make(item.Item, len(it))
	for k, v := range it {
		out[k] = v
	}
	switch v := it[hash].(type) {
	case *types.AttributeValueMemberS:
		out[hash] = &types.AttributeValueMemberS{Value: fmt.Sprintf("%s#%d", v.Value, i)}
	case *types.AttributeValueMemberB:
		out[hash] = &types.AttributeValueMemberB{Value: append(append([]byte(nil), v.Value...), byte(i), byte(i>>8))}
	}
	return out
}

// TestRoundTripEveryType: every item of testdata/items, backed up, snapshot,
// restored into a table created from the inferred key schema, verified, and
// read back attribute by attribute.
func TestRoundTripEveryType(t *testing.T) {
	ctx := context.Background()
	hashKeys := map[string]string{"all-types.json": "pk", "nested.json": "id", "unicode.json": "pk"}
	for name, it := range testenv.Items(t) {
		t.Run(name, func(t *testing.T) {
			hash := hashKeys[name]
			if hash == "" {
				t.Fatalf("no key known for %s: add it to hashKeys", name)
			}
			var ks keyschema.Schema
			for _, a := range []string{"pk", "sk", "id"} {
				if _, ok := it[a]; ok && ks.Hash.Name == "" && a == hash {
					ks.Hash = keyschema.Attr{Name: a}
				}
			}
			if _, ok := it["sk"]; ok {
				ks.Range = keyschema.Attr{Name: "sk"}
			}
			b := newBackup(t, ks)
			items := make([]item.Item, 60)
			for i := range items {
				items[i] = withKey(it, hash, i)
			}
			each(len(items), func(i int) { b.put(ctx, items[i]) })
			s := b.snapshotAt(ctx, time.Now().Add(time.Second))
			if s.Summary.ItemCount != 60 {
				t.Fatalf("snapshot has %d items", s.Summary.ItemCount)
			}
			inferred, err := InferKeySchema(ctx, s, hash)
			if err != nil {
				t.Fatal(err)
			}
			if inferred.Hash.Name != hash || (ks.Range.Name != "") != (inferred.Range.Name != "") {
				t.Fatalf("inferred key %s", inferred)
			}
			ddb := testenv.DynamoDB(t)
			table := newTable(t, ddb, inferred)
			if err := CheckKeySchema(ctx, s, inferred); err != nil {
				t.Fatal(err)
			}
			w := &Writer{Client: ddb, Table: table, Workers: 4}
			res, err := FromSnapshot(ctx, s, w, SnapshotOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Puts != 60 {
				t.Fatalf("wrote %d items", res.Puts)
			}
			if r := mustVerify(t, ctx, s, ddb, table, inferred); !r.Equal() || r.TableItems != 60 {
				t.Fatalf("verify: %+v", r)
			}
			for _, want := range items[:3] {
				k, _ := inferred.Key(want)
				out, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: k, ConsistentRead: aws.Bool(true)})
				if err != nil {
					t.Fatal(err)
				}
				a, _ := itemcmp.Canonical(want)
				g, _ := itemcmp.Canonical(out.Item)
				if string(a) != string(g) {
					t.Fatalf("read back differs:\nwant %s\n got %s", a, g)
				}
			}
		})
	}
}

func numItem(i int, v string) item.Item {
	return item.Item{"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("k%05d", i)}, "v": &types.AttributeValueMemberS{Value: v},
		"n": &types.AttributeValueMemberN{Value: fmt.Sprint(i)}}
}

var pkSchema = keyschema.Schema{Hash: keyschema.Attr{Name: "pk", Type: "S"}}

// TestRewind: after a run of changes, --rewind to an earlier time makes the
// table equal to the snapshot of that time, writing only the changed keys.
func TestRewind(t *testing.T) {
	ctx := context.Background()
	b := newBackup(t, pkSchema)
	each(200, func(i int) { b.put(ctx, numItem(i, "v1")) })
	at := nextSecond()
	// Phase 2, all after at: 30 modified, 20 deleted, 25 created, 5 created
	// and deleted again, and 3 modified then put back as they were.
	each(30, func(i int) { b.put(ctx, numItem(i, "v2")) })
	each(20, func(i int) { b.del(ctx, numItem(30+i, "")) })
	each(25, func(i int) { b.put(ctx, numItem(1000+i, "new")) })
	each(5, func(i int) {
		b.put(ctx, numItem(2000+i, "brief"))
		b.del(ctx, numItem(2000+i, ""))
	})
	each(3, func(i int) {
		b.put(ctx, numItem(50+i, "v2"))
		b.put(ctx, numItem(50+i, "v1"))
	})
	const changed = 30 + 20 + 25 + 5 + 3
	now := nextSecond()

	ddb := testenv.DynamoDB(t)
	table := newTable(t, ddb, pkSchema)
	// The live table: the backup's latest state.
	live := &Writer{Client: ddb, Table: table, Workers: 8}
	if _, err := FromVersions(ctx, s3source.New(b.s3, b.src.Bucket), live, VersionsOptions{Source: b.src, At: now, Schema: pkSchema}); err != nil {
		t.Fatal(err)
	}
	snapAt := b.snapshotAt(ctx, at)
	if r := mustVerify(t, ctx, snapAt, ddb, table, pkSchema); r.Equal() || r.Different != 30 || r.Missing != 20 || r.Extra != 25 {
		t.Fatalf("before the rewind the table should differ: %+v", r)
	}
	w := &Writer{Client: ddb, Table: table, Workers: 8}
	res, err := FromVersions(ctx, s3source.New(b.s3, b.src.Bucket), w, VersionsOptions{Source: b.src, At: at, Rewind: true, Schema: pkSchema, Plan: history.Plan{Ranges: 256}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Puts + res.Deletes; got != changed {
		t.Fatalf("rewind wrote %d keys (%d puts, %d deletes), want exactly the %d changed", got, res.Puts, res.Deletes, changed)
	}
	if res.Puts != 30+20+3 || res.Deletes != 25+5 || res.Unchanged != res.Keys-changed {
		t.Fatalf("rewind: %+v", res)
	}
	if r := mustVerify(t, ctx, snapAt, ddb, table, pkSchema); !r.Equal() || r.TableItems != 200 {
		t.Fatalf("after the rewind: %+v", r)
	}
}

// TestRestoreOneKey: --key puts back an item's image at the time, or
// deletes it if it did not exist then.
func TestRestoreOneKey(t *testing.T) {
	ctx := context.Background()
	b := newBackup(t, pkSchema)
	b.put(ctx, numItem(1, "old"))
	at := nextSecond()
	b.put(ctx, numItem(1, "new"))
	b.put(ctx, numItem(2, "created later"))
	now := nextSecond()
	ddb := testenv.DynamoDB(t)
	table := newTable(t, ddb, pkSchema)
	if _, err := FromVersions(ctx, s3source.New(b.s3, b.src.Bucket), &Writer{Client: ddb, Table: table}, VersionsOptions{Source: b.src, At: now, Schema: pkSchema}); err != nil {
		t.Fatal(err)
	}
	get := func(i int) item.Item {
		k, _ := pkSchema.Key(numItem(i, ""))
		out, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: k, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item
	}
	for i, want := range map[int]string{1: "old", 2: ""} {
		k, _ := pkSchema.Key(numItem(i, ""))
		res, err := FromVersions(ctx, s3source.New(b.s3, b.src.Bucket), &Writer{Client: ddb, Table: table}, VersionsOptions{Source: b.src, At: at, Key: k, Schema: pkSchema})
		if err != nil {
			t.Fatal(err)
		}
		got := get(i)
		switch {
		case want == "" && (got != nil || res.Deletes != 1):
			t.Errorf("key %d: want deleted, have %v (%+v)", i, got, res)
		case want != "" && (got == nil || got["v"].(*types.AttributeValueMemberS).Value != want || res.Puts != 1):
			t.Errorf("key %d: want v=%s, have %v", i, want, got)
		}
	}
	k, _ := pkSchema.Key(numItem(99, ""))
	_, err := FromVersions(ctx, s3source.New(b.s3, b.src.Bucket), &Writer{Client: ddb, Table: table}, VersionsOptions{Source: b.src, At: at, Key: k, Schema: pkSchema})
	if err == nil || !strings.Contains(err.Error(), "no versions of key") {
		t.Fatalf("unknown key: %v", err)
	}
}

// TestWrongTableRefused: a table keyed differently from the backup is
// refused before anything is written.
func TestWrongTableRefused(t *testing.T) {
	ctx := context.Background()
	b := newBackup(t, pkSchema)
	b.put(ctx, numItem(1, "x"))
	s := b.snapshotAt(ctx, time.Now().Add(time.Second))
	other := keyschema.Schema{Hash: keyschema.Attr{Name: "v", Type: "S"}}
	if err := CheckKeySchema(ctx, s, other); err == nil || !strings.Contains(err.Error(), "keyed by pk") {
		t.Fatalf("err = %v", err)
	}
}
