package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/stream"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// liveTable is a DynamoDB table whose every write goes through the stream
// writer (dynasnap-stream's handler) as DynamoDB Streams would deliver it,
// into the per-item layout or the journal; model keeps what the table
// holds, by pk, as canonical JSON.
type liveTable struct {
	t     *testing.T
	ddb   *dynamodb.Client
	table string
	src   layout.Location
	h     *stream.Handler
	seq   int
	model map[string]string
}

const liveARNFormat = "arn:aws:dynamodb:us-east-1:123456789012:table/%s/stream/2026-01-01T00:00:00.000"

func newLiveTable(t *testing.T, layoutName string) *liveTable {
	t.Helper()
	c := testenv.Clients(t)
	ddb := c.DynamoDB()
	lt := &liveTable{t: t, ddb: ddb, table: relTable(t, ddb), model: map[string]string{}}
	lt.src = layout.TableLocation(testenv.Bucket(t, c, true), "backups", "orders")
	h, err := stream.New(c.S3(), stream.Config{Bucket: lt.src.Bucket, Prefix: "backups", Table: "orders", Concurrency: 4, SkipApplied: true,
		Layout: layoutName, JournalLag: 2 * time.Second, DefinitionEvery: -1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	lt.h = h
	return lt
}

func liveItem(pk string, attrs ...string) item.Item {
	it := item.Item{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}}
	for i := 0; i+1 < len(attrs); i += 2 {
		it[attrs[i]] = &ddbtypes.AttributeValueMemberS{Value: attrs[i+1]}
	}
	return it
}

func liveKey(pk string) item.Item { return liveItem(pk) }

// put writes an item and delivers its INSERT or MODIFY; quiet writes it
// outside the stream's view (no record delivered).
func (lt *liveTable) put(it item.Item, quiet ...bool) {
	lt.t.Helper()
	out, err := lt.ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(lt.table), Item: it, ReturnValues: ddbtypes.ReturnValueAllOld})
	if err != nil {
		lt.t.Fatal(err)
	}
	b, _ := item.Marshal(it)
	pk := it["pk"].(*ddbtypes.AttributeValueMemberS).Value
	lt.model[pk] = string(b)
	if len(quiet) > 0 && quiet[0] {
		return
	}
	event := "INSERT"
	if len(out.Attributes) > 0 {
		event = "MODIFY"
	}
	lt.deliver(event, liveKey(pk), it, out.Attributes, false)
}

// del deletes an item and delivers its REMOVE (made by TTL if ttl).
func (lt *liveTable) del(pk string, ttl bool) {
	lt.t.Helper()
	out, err := lt.ddb.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(lt.table), Key: liveKey(pk), ReturnValues: ddbtypes.ReturnValueAllOld})
	if err != nil {
		lt.t.Fatal(err)
	}
	delete(lt.model, pk)
	if len(out.Attributes) > 0 {
		lt.deliver("REMOVE", liveKey(pk), nil, out.Attributes, ttl)
	}
}

func (lt *liveTable) deliver(event string, key, newImage, oldImage item.Item, ttl bool) {
	lt.t.Helper()
	lt.seq++
	now := time.Now()
	r := stream.Record{EventID: fmt.Sprint(lt.seq), EventName: event, EventSource: "aws:dynamodb", EventSourceARN: fmt.Sprintf(liveARNFormat, lt.table), AWSRegion: "us-east-1",
		Change: stream.StreamRecord{ApproximateCreationDateTime: json.Number(fmt.Sprintf("%d.%03d", now.Unix(), now.Nanosecond()/1e6)),
			SequenceNumber: fmt.Sprintf("%021d", 1000+lt.seq), StreamViewType: "NEW_AND_OLD_IMAGES"}}
	r.Change.Keys, _ = item.Marshal(key)
	if newImage != nil {
		r.Change.NewImage, _ = item.Marshal(newImage)
	}
	if oldImage != nil {
		r.Change.OldImage, _ = item.Marshal(oldImage)
	}
	if ttl {
		r.UserIdentity = &stream.UserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}
	}
	resp, err := lt.h.Handle(context.Background(), stream.Event{Records: []stream.Record{r}})
	if err != nil || len(resp.BatchItemFailures) > 0 {
		lt.t.Fatalf("stream writer: %v %v", err, resp.BatchItemFailures)
	}
}

// scan is the table's items by pk, as canonical JSON.
func (lt *liveTable) scan() map[string]string {
	lt.t.Helper()
	return relTableModel(lt.t, lt.ddb, lt.table)
}

func copyState(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// nextSecondStart sleeps until just after the next second begins and
// returns that second: every write after it is stamped with it or later.
func nextSecondStart() time.Time {
	now := time.Now()
	next := now.Truncate(time.Second).Add(time.Second)
	time.Sleep(next.Add(50 * time.Millisecond).Sub(now))
	return next
}

// undoJSON is the part of restore --undo --json the tests read.
type undoJSON struct {
	Undo             bool
	DryRun           bool
	Restored         int64
	Deleted          int64
	Conflicts        int64
	ExpiredLeftAlone int64
	Puts, Deletes    int64
	Listed           []struct {
		Key                 json.RawMessage
		Action, Reason      string
		Before, EndOfWindow json.RawMessage
		Now                 json.RawMessage
	}
}

func (u undoJSON) keys(action string) []string {
	var out []string
	for _, c := range u.Listed {
		if c.Action == action {
			var k map[string]map[string]string
			json.Unmarshal(c.Key, &k)
			out = append(out, k["pk"]["S"])
		}
	}
	sort.Strings(out)
	return out
}

func runUndo(t *testing.T, args ...string) (undoJSON, string, int) {
	t.Helper()
	o, e, code := cli(append([]string{"restore", "--undo", "--json"}, args...)...)
	var u undoJSON
	if err := json.Unmarshal([]byte(o), &u); err != nil {
		t.Fatalf("restore --undo %v: exit %d, no JSON (%v)\n%s\n%s", args, code, err, o, e)
	}
	return u, e, code
}

// TestUndoCLI: a window of bad writes (puts, updates, deletes) on two
// tenants, good writes after it on some of the same keys, and one write
// the stream never saw; then restore --undo, first for one tenant with
// --key-prefix, then for all. Keys only the bad writes touched are back to
// their state before the window, keys written after it are conflicts and
// untouched, TTL deletes in the window are not undone (listed as expired),
// nothing else changes, and a rerun changes nothing. Both
// layouts, the per-item one and the journal, through the stream writer.
func TestUndoCLI(t *testing.T) {
	for _, lay := range []string{stream.LayoutItems, stream.LayoutJournal} {
		t.Run(lay, func(t *testing.T) {
			t.Parallel()
			testUndo(t, lay)
		})
	}
}

func testUndo(t *testing.T, lay string) {
	lt := newLiveTable(t, lay)
	tenants := []string{"acme", "globex"}
	k := func(tn string, i int) string { return fmt.Sprintf("%s#%02d", tn, i) }
	for _, tn := range tenants {
		for i := range 12 {
			lt.put(liveItem(k(tn, i), "v", "good-1", "tenant", tn))
		}
		lt.put(liveItem(k(tn, 20), "v", "good-1", "tenant", tn))
		lt.put(liveItem(k(tn, 21), "v", "good-1", "tenant", tn))
	}
	t1 := nextSecondStart()
	before := copyState(lt.model)
	// The bad deploy.
	for _, tn := range tenants {
		for i := 1; i <= 5; i++ {
			lt.put(liveItem(k(tn, i), "v", "bad", "tenant", tn, "junk", "x")) // updates
		}
		for i := 6; i <= 8; i++ {
			lt.del(k(tn, i), false) // deletes
		}
		lt.put(liveItem(k(tn, 9), "v", "bad", "tenant", tn))
		lt.del(k(tn, 9), false)                               // updated, then deleted
		lt.put(liveItem(k(tn, 50), "v", "bad", "tenant", tn)) // inserts
		lt.put(liveItem(k(tn, 51), "v", "bad", "tenant", tn))
		lt.put(liveItem(k(tn, 52), "v", "bad", "tenant", tn))
		lt.del(k(tn, 52), false) // created and deleted
		lt.put(liveItem(k(tn, 10), "v", "bad", "tenant", tn))
		lt.put(liveItem(k(tn, 10), "v", "good-1", "tenant", tn)) // changed back
		lt.del(k(tn, 20), true)                                  // TTL: not undone
		lt.del(k(tn, 21), true)
		lt.put(liveItem(k(tn, 21), "v", "bad", "tenant", tn)) // TTL, then a bad put: deleted
	}
	t2 := nextSecondStart()
	// Good writes after the window, on some of the same keys, and one the
	// stream never saw.
	for _, tn := range tenants {
		lt.put(liveItem(k(tn, 2), "v", "good-2", "tenant", tn))
		lt.put(liveItem(k(tn, 6), "v", "good-2", "tenant", tn))
		lt.put(liveItem(k(tn, 50), "v", "good-2", "tenant", tn))
		lt.put(liveItem(k(tn, 11), "v", "good-2", "tenant", tn))
		lt.put(liveItem(k(tn, 60), "v", "good-2", "tenant", tn))
		lt.put(liveItem(k(tn, 3), "v", "outside", "tenant", tn), true)
	}
	end := copyState(lt.model)
	conflicts := map[string]bool{}
	for _, tn := range tenants {
		for _, i := range []int{2, 3, 6, 50} {
			conflicts[k(tn, i)] = true
		}
	}
	// undone is the table once the window's changes of the keys for which
	// keep says so are undone.
	undone := func(keep func(pk string) bool) map[string]string {
		want := copyState(end)
		for _, tn := range tenants {
			for _, i := range []int{1, 4, 5, 7, 8, 9, 51} {
				pk := k(tn, i)
				if !keep(pk) {
					continue
				}
				if b, ok := before[pk]; ok {
					want[pk] = b
				} else {
					delete(want, pk)
				}
			}
			if keep(k(tn, 21)) {
				delete(want, k(tn, 21))
			}
		}
		return want
	}
	from, to := t1.UTC().Format(time.RFC3339), t2.UTC().Format(time.RFC3339)
	args := []string{"--source", lt.src.String(), "--table", lt.table, "--from", from, "--to", to}
	acme := func(pk string) bool { return strings.HasPrefix(pk, "acme#") }
	conflictKeys := func(keep func(string) bool) []string {
		var out []string
		for pk := range conflicts {
			if keep(pk) {
				out = append(out, pk)
			}
		}
		sort.Strings(out)
		return out
	}

	// --dry-run lists and writes nothing.
	u, e, code := runUndo(t, append(args, "--dry-run", "--key-prefix", "acme#")...)
	if code != exitConflicts || !u.DryRun || u.Restored != 6 || u.Deleted != 2 || u.Conflicts != 4 || u.ExpiredLeftAlone != 2 || u.Puts+u.Deletes != 0 {
		t.Fatalf("dry run: exit %d %+v\n%s", code, u, e)
	}
	if got := u.keys("expired"); fmt.Sprint(got) != "[acme#20 acme#21]" {
		t.Fatalf("dry run TTL deletes %v\n%+v", got, u.Listed)
	}
	if got := u.keys("conflict"); fmt.Sprint(got) != fmt.Sprint(conflictKeys(acme)) {
		t.Fatalf("dry run conflicts %v, want %v\n%+v", got, conflictKeys(acme), u.Listed)
	}
	if d := compareStates(end, lt.scan()); d != "" {
		t.Fatalf("the dry run wrote: %s", d)
	}
	if !strings.Contains(e, "conflict ") || !strings.Contains(e, "end of window:") || !strings.Contains(e, "would restore") {
		t.Fatalf("dry run text:\n%s", e)
	}

	// One tenant.
	u, e, code = runUndo(t, append(args, "--key-prefix", "acme#")...)
	if code != exitConflicts || u.Restored != 6 || u.Deleted != 2 || u.Conflicts != 4 || u.ExpiredLeftAlone != 2 || u.Puts != 6 || u.Deletes != 2 {
		t.Fatalf("undo acme: exit %d %+v\n%s", code, u, e)
	}
	for _, c := range u.Listed {
		if c.Action == "conflict" && (len(c.Before) == 0 || len(c.EndOfWindow) == 0 || len(c.Now) == 0) {
			t.Fatalf("a conflict without its three states: %+v", c)
		}
	}
	if d := compareStates(undone(acme), lt.scan()); d != "" {
		t.Fatalf("after undo --key-prefix acme#: %s\n%s", d, e)
	}
	u, e, code = runUndo(t, append(args, "--key-prefix", "acme#")...)
	if code != exitConflicts || u.Restored+u.Deleted != 0 || u.Conflicts != 4 {
		t.Fatalf("undo acme again: exit %d %+v\n%s", code, u, e)
	}

	// Everything.
	u, e, code = runUndo(t, args...)
	if code != exitConflicts || u.Restored != 6 || u.Deleted != 2 || u.Conflicts != 8 || u.ExpiredLeftAlone != 4 || fmt.Sprint(u.keys("conflict")) != fmt.Sprint(conflictKeys(func(string) bool { return true })) {
		t.Fatalf("undo: exit %d %+v\n%s", code, u, e)
	}
	all := undone(func(string) bool { return true })
	if d := compareStates(all, lt.scan()); d != "" {
		t.Fatalf("after undo: %s\n%s", d, e)
	}
	u, e, code = runUndo(t, args...)
	if code != exitConflicts || u.Restored+u.Deleted != 0 || u.Conflicts != 8 {
		t.Fatalf("undo again: exit %d %+v\n%s", code, u, e)
	}
	if d := compareStates(all, lt.scan()); d != "" {
		t.Fatalf("the rerun changed: %s", d)
	}
}
