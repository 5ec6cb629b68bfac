package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/parquetfmt"
	"github.com/dynasnap/dynasnap/internal/testsupport/backuptest"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// keyedChange is one change of the key index test's model: a backfill
// image (seq 0) or a stream change.
type keyedChange struct {
	at   time.Time
	seq  int64
	del  bool
	body string
}

func indexKey(k int) string { return fmt.Sprintf(`{"pk":{"S":"k%06d"}}`, k) }

func indexRecord(t *testing.T, k int, c keyedChange) journal.Record {
	keys := indexKey(k)
	it, err := item.Unmarshal([]byte(keys))
	if err != nil {
		t.Fatal(err)
	}
	id, err := item.KeyID(it, "pk")
	if err != nil {
		t.Fatal(err)
	}
	r := journal.Record{ID: id, TimeMs: c.at.UnixMilli(), Keys: []byte(keys), Event: journal.EventBackfill, NewImage: []byte(c.body)}
	if c.seq > 0 {
		r.Seq, r.Stream, r.Event = fmt.Sprint(c.seq), testStream, journal.EventModify
		if c.del {
			r.Event, r.NewImage = journal.EventRemove, nil
		}
	}
	return r
}

// keyedState is a key's image at t by the model ("" absent).
func keyedState(cs []keyedChange, t time.Time) string {
	s := ""
	for _, c := range cs {
		if !c.at.After(t) {
			s = c.body
			if c.del {
				s = ""
			}
		}
	}
	return s
}

// TestJournalKeyIndexCLI: on a journal of 100,000 items (a backfill's
// base, a compacted level file of 3,000 changes and an uncompacted
// segment), history --key and restore --key read the few blocks that hold
// the key, by the parts' key index: at most 10 S3 requests each, counted
// by a proxy, and exactly what the model says.
func TestJournalKeyIndexCLI(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "backups", "ji")
	dir := src.Dir()
	b := &journal.S3Bucket{Client: c.S3(), Bucket: bucket}
	if err := journal.EnsureDescriptor(ctx, b, dir, journalTestLag, "test"); err != nil {
		t.Fatal(err)
	}
	const items = 100_000
	model := make([][]keyedChange, items)
	// The base: every item as a backfill read it, a few seconds ago.
	baseAt := time.Now().Truncate(time.Second).Add(-2 * time.Second)
	var run []journal.Record
	for k := range items {
		ch := keyedChange{at: baseAt, body: fmt.Sprintf(`{"n":{"N":"%d"},"pk":{"S":"k%06d"},"v":{"S":"backfilled"}}`, k, k)}
		model[k] = append(model[k], ch)
		run = append(run, indexRecord(t, k, ch))
		if len(run) == 20_000 {
			if err := journal.WriteBaseRun(ctx, b, dir, baseAt, run); err != nil {
				t.Fatal(err)
			}
			run = nil
		}
	}
	if _, err := journal.FinishBase(ctx, b, dir, baseAt, baseAt, "test", 0); err != nil {
		t.Fatal(err)
	}
	// Stream changes, each second's in segments of 500; key 3 changes
	// every second.
	rng := rand.New(rand.NewPCG(25, 1))
	seq := int64(1000)
	var times []time.Time
	writeSecond := func(n int) {
		now := time.Now()
		time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
		sec := time.Now().Truncate(time.Second)
		var recs []journal.Record
		for i := range n {
			k := rng.IntN(items)
			if i == 0 {
				k = 3
			}
			seq += 1 + rng.Int64N(3)
			ch := keyedChange{at: sec, seq: seq, del: i > 0 && rng.IntN(5) == 0}
			if !ch.del {
				ch.body = fmt.Sprintf(`{"n":{"N":"%d"},"pk":{"S":"k%06d"},"v":{"S":"s%d-%d"}}`, rng.IntN(1e6), k, seq, i)
			}
			model[k] = append(model[k], ch)
			recs = append(recs, indexRecord(t, k, ch))
		}
		for lo := 0; lo < len(recs); lo += 500 {
			if _, err := journal.WriteSegment(ctx, b, dir, recs[lo:min(lo+500, len(recs))], time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		times = append(times, sec)
	}
	for range 3 {
		writeSecond(1000)
	}
	time.Sleep(time.Until(times[len(times)-1].Add(journalTestLag + 3*time.Second)))
	if _, stderr, code := cli("compact", "--source", src.String(), "--intervals", "1s", "--base-every", "0", "--delete-delay", "0s", "--keep-exact", "35d", "--keep-hourly", "1y", "--quiet"); code != 0 {
		t.Fatalf("compact: exit %d: %s", code, stderr)
	}
	writeSecond(300) // the uncompacted tail: one segment

	proxy := backuptest.NewProxy(t, os.Getenv("AWS_ENDPOINT_URL_S3"))
	ddb := c.DynamoDB()
	table := relTable(t, ddb)
	t.Setenv("AWS_ENDPOINT_URL_S3", proxy.URL) // the commands' S3 requests go through the proxy
	count := func(label string, max int) {
		t.Helper()
		reqs := proxy.Requests()
		t.Logf("%s: %d S3 requests:\n  %s", label, len(reqs), strings.Join(reqs, "\n  "))
		if len(reqs) > max {
			t.Errorf("%s made %d S3 requests, want at most %d", label, len(reqs), max)
		}
		proxy.Reset()
	}

	// history --key: every version of key 3, newest first.
	proxy.Reset()
	stdout, stderr, code := cli("history", "--source", src.String(), "--key", indexKey(3), "--json")
	if code != 0 {
		t.Fatalf("history: exit %d: %s", code, stderr)
	}
	count("history --key", 10)
	var got []struct {
		Event string          `json:"event"`
		Image json.RawMessage `json:"image"`
	}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var v struct {
			Event string          `json:"event"`
			Image json.RawMessage `json:"image"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("history line %q: %v", l, err)
		}
		got = append(got, v)
	}
	want := model[3]
	if len(got) != len(want) {
		t.Fatalf("history lists %d versions of k000003, the model %d:\n%s", len(got), len(want), stdout)
	}
	for i, w := range want {
		g := got[len(got)-1-i]
		if w.del != (g.Event == "REMOVE") || (!w.del && canonicalJSON(t, g.Image) != w.body) {
			t.Fatalf("version %d of k000003: want %+v, got %s %s", i, w, g.Event, g.Image)
		}
	}

	// restore --key at a time the level file answers, and at one in the
	// uncompacted tail.
	for _, k := range []int{3, 77_777} {
		for _, at := range []time.Time{times[1], times[3]} {
			proxy.Reset()
			_, stderr, code := cli("restore", "--source", src.String(), "--at", at.UTC().Format(time.RFC3339), "--table", table,
				"--key", indexKey(k), "--quiet")
			if code != 0 {
				t.Fatalf("restore --key k%06d at %s: exit %d: %s", k, at, code, stderr)
			}
			count(fmt.Sprintf("restore --key k%06d at %s", k, at.Format(time.TimeOnly)), 10)
			pk := fmt.Sprintf("k%06d", k)
			if g, w := relTableModel(t, ddb, table)[pk], keyedState(model[k], at); g != w {
				t.Fatalf("restore --key %s at %s: table holds %q, the model %q", pk, at, g, w)
			}
		}
	}
}

func canonicalJSON(t *testing.T, b []byte) string {
	t.Helper()
	it, err := item.Unmarshal(b)
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	out, _ := item.Marshal(it)
	return string(out)
}

// TestAthenaDDLJournalCLI: athena-ddl on a table folder holding a journal
// prints the files table over its journal/ folder and the view of every
// change once (the statements tests/duckdb runs).
func TestAthenaDDLJournalCLI(t *testing.T) {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "backups", "orders-2026")
	b := &journal.S3Bucket{Client: c.S3(), Bucket: bucket}
	if err := journal.EnsureDescriptor(context.Background(), b, src.Dir(), 7*time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cli("athena-ddl", src.String())
	if code != 0 {
		t.Fatalf("athena-ddl: exit %d: %s", code, stderr)
	}
	want := parquetfmt.JournalDDL("orders_2026", src.String()+"/journal/", "change journal of "+src.String()+" (lag 7s)", 7)
	if stdout != want {
		t.Fatalf("athena-ddl printed\n%s\nwant\n%s", stdout, want)
	}
	if _, stderr, code := cli("athena-ddl", src.String(), "--style", "struct"); code != 2 || !strings.Contains(stderr, "map style") {
		t.Fatalf("athena-ddl --style on a journal: exit %d: %s", code, stderr)
	}
}
