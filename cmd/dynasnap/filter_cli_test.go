package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// A malformed --where fails with its position before a single connection
// is made, for every command that takes one. Every endpoint points at a
// server that counts connections and requests; a well-formed expression
// through the same setup does reach it, so a zero count means something.
func TestFilterBadExpressionSendsNothing(t *testing.T) {
	var conns, reqs atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		// Access denied is final: the SDK does not retry it.
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>counted</Message></Error>`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"} {
		t.Setenv(k, srv.URL)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "counted")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "counted")
	t.Setenv("AWS_REGION", "us-east-1")
	const bad = `item.tenant == `
	ep := []string{"--endpoint-url", srv.URL}
	for _, args := range [][]string{
		{"snapshot", "--source", "s3://b/p/t", "--out", "s3://exports/x", "--where", bad},
		{"restore", "--snapshot", "s3://exports/x", "--table", "t", "--where", bad},
		{"restore", "--source", "s3://b/p/t", "--at", "-1h", "--table", "t", "--where", bad},
		{"restore", "--source", "s3://b/p/t", "--at", "-1h", "--table", "t", "--rewind", "--key-prefix", "acme#", "--where", bad},
		{"restore", "--source", "s3://b/p/t", "--at", "-1h", "--table", "t", "--key", `{"pk":{"S":"a"}}`, "--where", bad},
		{"diff", "--source", "s3://b/p/t", "--from", "-1h", "--where", bad},
		{"diff", "--source", "s3://b/p/t", "--from", "-1h", "--where", `item.tenant == "acme" &&& true`},
	} {
		_, stderr, code := cli(append(args, ep...)...)
		if code != 2 || !strings.Contains(stderr, "<input>:1:") {
			t.Errorf("%v: exit %d, want 2 with the position of the error\n%s", args, code, stderr)
		}
	}
	if n, m := conns.Load(), reqs.Load(); n != 0 || m != 0 {
		t.Fatalf("a malformed expression made %d connections and %d requests; want none", n, m)
	}
	// The control: a good expression gets as far as the server.
	if _, stderr, code := cli(append([]string{"diff", "--source", "s3://b/p/t", "--from", "-1h", "--where", `item.tenant == "acme"`}, ep...)...); code != 1 || reqs.Load() == 0 {
		t.Fatalf("control run: exit %d, %d requests\n%s", code, reqs.Load(), stderr)
	}
}

// tenantBackup is a multi-tenant table's backup: items keyed TENANT#i with
// a tenant attribute, changed after the time at for the target tenant and
// for the others alike, plus items that moved between tenants.
type tenantBackup struct {
	src      layout.Location
	at       string               // RFC 3339
	atT, now map[string]item.Item // by pk; absent: no item
}

func tenantItem(tenant, pk string, v int) item.Item {
	it := item.Item{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}, "v": &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(v)},
		"updated": &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(1700000000 + v)}}
	if tenant != "" {
		it["tenant"] = &ddbtypes.AttributeValueMemberS{Value: tenant}
	}
	return it
}

// seedTenants writes two phases of versions, a whole second apart: at is
// the last second of the first.
func seedTenants(t *testing.T, c *awsconf.Clients) *tenantBackup {
	t.Helper()
	tb := &tenantBackup{src: layout.TableLocation(testenv.Bucket(t, c, true), "backups", "orders"), atT: map[string]item.Item{}, now: map[string]item.Item{}}
	first := map[string][]item.Item{"misc#1": {tenantItem("", "misc#1", 1)}, "misc#2": {tenantItem("", "misc#2", 1)}}
	second := map[string][]item.Item{
		"misc#1":    {tenantItem("", "misc#1", 2)},                // no tenant attribute: never selected
		"acme#6":    {tenantItem("globex", "acme#6", 2)},          // moved out of acme
		"globex#6":  {tenantItem("acme", "globex#6", 2)},          // moved into acme
		"acme#7":    {tenantItem("acme", "acme#7", 2), nil, nil},  // deleted twice
		"initech#7": {nil, tenantItem("initech", "initech#7", 3)}, // deleted, then back changed
	}
	for _, tn := range []string{"acme", "globex", "initech"} {
		k := func(i int) string { return fmt.Sprintf("%s#%d", tn, i) }
		for i := range 12 {
			first[k(i)] = []item.Item{tenantItem(tn, k(i), 1)}
		}
		second[k(0)] = []item.Item{tenantItem(tn, k(0), 2)}
		second[k(1)] = []item.Item{tenantItem(tn, k(1), 2), tenantItem(tn, k(1), 3)}
		second[k(2)] = []item.Item{nil}
		second[k(3)] = []item.Item{nil}
		second[k(4)] = []item.Item{tenantItem(tn, k(4), 2), nil}
		second[k(5)] = []item.Item{tenantItem(tn, k(5), 2), tenantItem(tn, k(5), 1)} // put back as it was
		second[k(100)] = []item.Item{tenantItem(tn, k(100), 1)}
		second[k(101)] = []item.Item{tenantItem(tn, k(101), 1)}
		second[k(102)] = []item.Item{tenantItem(tn, k(102), 1), nil} // created and deleted again
	}
	tb.write(t, c, first)
	for k, v := range tb.now {
		tb.atT[k] = v
	}
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 50*time.Millisecond).Sub(now))
	tb.at = now.Truncate(time.Second).UTC().Format(time.RFC3339)
	tb.write(t, c, second)
	time.Sleep(1100 * time.Millisecond) // so that "-0s" covers the second phase
	return tb
}

// write puts each key's versions (nil: a delete marker) in order, keys in
// parallel, and keeps tb.now in step.
func (tb *tenantBackup) write(t *testing.T, c *awsconf.Clients, changes map[string][]item.Item) {
	t.Helper()
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	var mu sync.Mutex
	relParallel(len(keys), func(i int) {
		pk := keys[i]
		id, _ := item.KeyID(item.Item{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}})
		loc := aws.String(tb.src.ObjectKey(id))
		for _, it := range changes[pk] {
			var err error
			if it == nil {
				_, err = c.S3().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(tb.src.Bucket), Key: loc})
			} else {
				body, _ := item.Marshal(it)
				_, err = c.S3().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(tb.src.Bucket), Key: loc, Body: bytes.NewReader(body)})
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if last := changes[pk][len(changes[pk])-1]; last != nil {
			tb.now[pk] = last
		} else {
			delete(tb.now, pk)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
}

func model(items map[string]item.Item, keep func(item.Item) bool) relModel {
	m := relModel{}
	for pk, it := range items {
		if keep == nil || keep(it) {
			b, _ := item.Marshal(it)
			m[pk] = string(b)
		}
	}
	return m
}

// rewound is the table a filtered rewind must leave: a key whose image at
// the time or current item matches, and neither exists without matching,
// is as it was at the time; every other key as it is now. conflicts are
// the keys where one matches and the other exists and does not.
func (tb *tenantBackup) rewound(match func(item.Item) bool) (want relModel, conflicts []string) {
	want = model(tb.now, nil)
	atT := model(tb.atT, nil)
	for pk := range atT.union(want) {
		var matched, other bool
		for _, it := range []item.Item{tb.atT[pk], tb.now[pk]} {
			if it != nil {
				matched, other = matched || match(it), other || !match(it)
			}
		}
		switch {
		case matched && other:
			conflicts = append(conflicts, fmt.Sprintf(`{"pk":{"S":"%s"}}`, pk))
		case !matched:
		case atT[pk] != "":
			want[pk] = atT[pk]
		default:
			delete(want, pk)
		}
	}
	sort.Strings(conflicts)
	return want, conflicts
}

func (m relModel) union(o relModel) map[string]bool {
	u := map[string]bool{}
	for k := range m {
		u[k] = true
	}
	for k := range o {
		u[k] = true
	}
	return u
}

// liveTable is a table holding the backup's current state, as the stream
// writer's table would.
func (tb *tenantBackup) liveTable(t *testing.T, ddb *dynamodb.Client) string {
	t.Helper()
	table := relTable(t, ddb)
	var items []item.Item
	for _, it := range tb.now {
		items = append(items, it)
	}
	relParallel(len(items), func(i int) {
		if _, err := ddb.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: items[i]}); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	return table
}

func isAcme(it item.Item) bool {
	s, ok := it["tenant"].(*ddbtypes.AttributeValueMemberS)
	return ok && s.Value == "acme"
}

func acmePrefix(it item.Item) bool {
	return strings.HasPrefix(it["pk"].(*ddbtypes.AttributeValueMemberS).Value, "acme#")
}

// TestTenantRestore: one tenant of a multi-tenant table back to a time
// with restore --source --rewind and --where or --key-prefix, every other
// item byte for byte as it was (full Scans before and after); the filtered
// snapshot, restore --snapshot, restore into an empty table, --key and diff
// with the same filters.
func TestTenantRestore(t *testing.T) {
	c := testenv.Clients(t)
	ddb := c.DynamoDB()
	tb := seedTenants(t, c)
	const where = `item.tenant == "acme"`

	for _, tc := range []struct {
		name  string
		flags []string
		match func(item.Item) bool
	}{
		{"where", []string{"--where", where}, isAcme},
		{"key-prefix", []string{"--key-prefix", "acme#"}, acmePrefix},
	} {
		t.Run("rewind "+tc.name, func(t *testing.T) {
			table := tb.liveTable(t, ddb)
			before := relTableModel(t, ddb, table)
			if lost, d := relCompare(model(tb.now, nil), before); lost != 0 {
				t.Fatalf("live table: %s", d)
			}
			want, conflicts := tb.rewound(tc.match)
			args := append([]string{"restore", "--source", tb.src.String(), "--at", tb.at, "--table", table, "--rewind", "--json"}, tc.flags...)
			o, e, code := cli(args...)
			var res struct {
				Puts, Deletes, Conflicts, FilteredOut int
				ConflictKeys                          []string
			}
			if err := json.Unmarshal([]byte(o), &res); err != nil {
				t.Fatalf("exit %d, summary %q: %v\n%s", code, o, err, e)
			}
			wantCode := 0
			if len(conflicts) > 0 {
				wantCode = exitConflicts
			}
			if code != wantCode || fmt.Sprint(res.ConflictKeys) != fmt.Sprint(conflicts) || res.Conflicts != len(conflicts) {
				t.Fatalf("exit %d (want %d), conflicts %v (want %v)\n%s", code, wantCode, res.ConflictKeys, conflicts, e)
			}
			for _, k := range conflicts {
				if !strings.Contains(e, k) {
					t.Errorf("conflict %s not named on stderr:\n%s", k, e)
				}
			}
			after := relTableModel(t, ddb, table)
			if lost, d := relCompare(want, after); lost != 0 {
				t.Fatalf("after the rewind, %d items are not as they should be: %s", lost, d)
			}
			// The brief's own check: whatever the filter does not select is
			// byte for byte what the Scan before the restore saw.
			var changed int
			for pk := range before.union(after) {
				if before[pk] != after[pk] {
					changed++
					if it := tb.atT[pk]; (it == nil || !tc.match(it)) && (tb.now[pk] == nil || !tc.match(tb.now[pk])) {
						t.Errorf("%s is outside the selection but changed: %q -> %q", pk, before[pk], after[pk])
					}
				}
			}
			// Written: acme#0..5 and #7 put back, #100 and #101 deleted,
			// acme#6 put back too by key prefix (by tenant it is a conflict).
			puts := 7
			if tc.name == "key-prefix" {
				puts = 8
			}
			if res.Puts != puts || res.Deletes != 2 || changed > puts+2 {
				t.Errorf("wrote %d puts and %d deletes (want %d and 2), %d items changed\n%s", res.Puts, res.Deletes, puts, changed, e)
			}
		})
	}

	t.Run("snapshot and restore --snapshot", func(t *testing.T) {
		dir := t.TempDir()
		full, filtered := filepath.Join(dir, "full"), filepath.Join(dir, "acme")
		if _, e, code := cli("snapshot", "--source", tb.src.String(), "--at", tb.at, "--out", full, "--quiet"); code != 0 {
			t.Fatalf("snapshot: %d %s", code, e)
		}
		if _, e, code := cli("snapshot", "--source", tb.src.String(), "--at", tb.at, "--out", filtered, "--quiet", "--where", where); code != 0 {
			t.Fatalf("filtered snapshot: %d %s", code, e)
		}
		acmeAtT := model(tb.atT, isAcme)
		if lost, d := relCompare(acmeAtT, relSnapshotModel(t, c, filtered)); lost != 0 || len(acmeAtT) != 12 {
			t.Fatalf("the filtered snapshot does not hold exactly acme's %d items: %s", len(acmeAtT), d)
		}
		for _, tc := range []struct {
			flags []string
			want  relModel
		}{
			{[]string{"--where", where}, acmeAtT},
			{[]string{"--key-prefix", "acme#"}, model(tb.atT, acmePrefix)},
			{[]string{"--key-prefix", "pk=glob", "--where", "item.v == 1"}, model(tb.atT, func(it item.Item) bool {
				return strings.HasPrefix(it["pk"].(*ddbtypes.AttributeValueMemberS).Value, "glob") && it["v"].(*ddbtypes.AttributeValueMemberN).Value == "1"
			})},
		} {
			table := testenv.Name("filtered")
			t.Cleanup(func() {
				ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
			})
			args := append([]string{"restore", "--snapshot", full, "--table", table, "--create-table", "--json",
				"--checkpoint", filepath.Join(dir, table+".json")}, tc.flags...)
			o, e, code := cli(args...)
			var res struct{ Puts, FilteredOut int }
			json.Unmarshal([]byte(o), &res)
			if code != 0 || res.Puts != len(tc.want) || res.Puts+res.FilteredOut != len(tb.atT) || strings.Contains(e, "import-table") {
				t.Fatalf("%v: exit %d, %s\n%s", tc.flags, code, o, e)
			}
			if lost, d := relCompare(tc.want, relTableModel(t, ddb, table)); lost != 0 {
				t.Fatalf("%v: %s", tc.flags, d)
			}
		}
	})

	t.Run("restore --source into an empty table, and --key", func(t *testing.T) {
		table := relTable(t, ddb)
		o, e, code := cli("restore", "--source", tb.src.String(), "--at", tb.at, "--table", table, "--where", where, "--json")
		var res struct{ Puts, FilteredOut int }
		json.Unmarshal([]byte(o), &res)
		want := model(tb.atT, isAcme)
		if code != 0 || res.Puts != len(want) || res.FilteredOut != len(tb.atT)-len(want) {
			t.Fatalf("exit %d, %s\n%s", code, o, e)
		}
		if lost, d := relCompare(want, relTableModel(t, ddb, table)); lost != 0 {
			t.Fatal(d)
		}

		// --key with a filter follows the rewind's rule for that one key.
		live := tb.liveTable(t, ddb)
		key := func(pk string) string { return fmt.Sprintf(`{"pk":{"S":"%s"}}`, pk) }
		if _, e, code := cli("restore", "--source", tb.src.String(), "--at", tb.at, "--table", live, "--key", key("acme#0"), "--where", where, "--quiet"); code != 0 {
			t.Fatalf("--key acme#0: %d %s", code, e)
		}
		if _, e, code := cli("restore", "--source", tb.src.String(), "--at", tb.at, "--table", live, "--key", key("acme#6"), "--where", where); code != exitConflicts || !strings.Contains(e, key("acme#6")) {
			t.Fatalf("--key acme#6, moved to globex: exit %d, want %d naming it\n%s", code, exitConflicts, e)
		}
		if o, e, code := cli("restore", "--source", tb.src.String(), "--at", tb.at, "--table", live, "--key", key("globex#0"), "--where", where, "--json", "--quiet"); code != 0 || !strings.Contains(o, `"filteredOut":1`) {
			t.Fatalf("--key globex#0: %d %s %s", code, o, e)
		}
		want = model(tb.now, nil)
		want["acme#0"] = model(tb.atT, nil)["acme#0"]
		if lost, d := relCompare(want, relTableModel(t, ddb, live)); lost != 0 {
			t.Fatal(d)
		}
	})

	t.Run("diff", func(t *testing.T) {
		for _, tc := range []struct {
			flags []string
			want  string
		}{
			// acme#5 was changed and put back as it was, acme#102 created
			// and deleted: both are listed, since a table at a time inside
			// the window may hold their other state (docs/DESIGN.md §3).
			{[]string{"--where", where}, "[acme#0 acme#1 acme#100 acme#101 acme#102 acme#2 acme#3 acme#4 acme#5 acme#6 acme#7 globex#6]"},
			{[]string{"--key-prefix", "acme#"}, "[acme#0 acme#1 acme#100 acme#101 acme#102 acme#2 acme#3 acme#4 acme#5 acme#6 acme#7]"},
		} {
			// The window [--from, --to): the changes after the state at
			// tb.at (LastModified <= tb.at) start at the next second.
			atT, _ := time.Parse(time.RFC3339, tb.at)
			o, e, code := cli(append([]string{"diff", "--source", tb.src.String(), "--from", atT.Add(time.Second).Format(time.RFC3339)}, tc.flags...)...)
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(o), "\n") {
				var d struct {
					Keys struct{ Pk struct{ S string } }
				}
				if err := json.Unmarshal([]byte(l), &d); err != nil {
					t.Fatalf("%v: line %q: %v", tc.flags, l, err)
				}
				got = append(got, d.Keys.Pk.S)
			}
			sort.Strings(got)
			if code != 0 || fmt.Sprint(got) != tc.want || !strings.Contains(e, "changes filtered out") {
				t.Errorf("diff %v: exit %d, keys %v, want %s\n%s", tc.flags, code, got, tc.want, e)
			}
		}
	})
}
