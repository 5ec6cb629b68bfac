package restore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/memsource"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// racingTable is the table with someone else writing key race between the
// undo's read of it and its conditional write.
type racingTable struct {
	*dynamodb.Client
	race item.Item
}

func (r *racingTable) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if in.ConditionExpression != nil && str(in.Item, "pk") == str(r.race, "pk") {
		if _, err := r.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: in.TableName, Item: r.race}); err != nil {
			return nil, err
		}
	}
	return r.Client.PutItem(ctx, in, opts...)
}

// str is a string attribute's value ("" if none).
func str(it item.Item, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// TestUndoRaceIsAConflict: a write that lands between the undo's read of a
// key and its conditional write makes that key a conflict, listed with
// what is there now, and the write stays; the other keys are undone (put
// back, deleted).
func TestUndoRaceIsAConflict(t *testing.T) {
	ddb := testenv.DynamoDB(t)
	ctx := context.Background()
	table := newTable(t, ddb, pkOnly)
	b := memsource.New("b")
	loc := layout.TableLocation("b", "p", "t")
	mk := func(pk, v string) item.Item {
		it, err := item.Unmarshal([]byte(fmt.Sprintf(`{"pk":{"S":%q},"v":{"S":%q}}`, pk, v)))
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	version := func(it item.Item, sec int64) {
		body, _ := item.Marshal(it)
		id, _ := item.KeyID(it, "pk")
		b.Put(loc.ObjectKey(id), body, time.Unix(sec, 0))
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	version(mk("a", "1"), 100)
	version(mk("b", "1"), 100)
	version(mk("a", "bad"), 150)
	version(mk("b", "bad"), 155)
	version(mk("c", "bad"), 159)
	api := &racingTable{Client: ddb, race: mk("a", "theirs")}
	res, err := fromUndo(ctx, b, undoOptions{Undo: Undo{From: time.Unix(150, 0), To: time.Unix(160, 0)},
		VersionsOptions: VersionsOptions{Source: loc, ClockSkew: -1, Schema: pkOnly}, API: api, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	u := res.Undo
	if u.Restored != 1 || u.Deleted != 1 || u.Conflicts != 1 || res.Puts != 1 || res.Deletes != 1 || len(u.Listed) != 1 {
		t.Fatalf("result %+v, undo %+v", res, u)
	}
	if c := u.Listed[0]; c.Action != UndoConflict || string(c.Key) != `{"pk":{"S":"a"}}` || string(c.Now) != `{"pk":{"S":"a"},"v":{"S":"theirs"}}` ||
		string(c.Before) != `{"pk":{"S":"a"},"v":{"S":"1"}}` || string(c.End) != `{"pk":{"S":"a"},"v":{"S":"bad"}}` {
		t.Fatalf("conflict %+v", c)
	}
	want := map[string]string{"a": "theirs", "b": "1", "c": ""}
	for pk, v := range want {
		out, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: item.Item{"pk": mk(pk, "")["pk"]}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if got := str(out.Item, "v"); got != v {
			t.Errorf("%s: %q, want %q", pk, got, v)
		}
	}
}
