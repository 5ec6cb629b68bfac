package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// journalChange is one change the test writes, as its model keeps it.
type journalChange struct {
	key  int
	at   time.Time
	seq  int64
	del  bool
	body string // the item's canonical JSON
}

const journalTestLag = 3 * time.Second

const testStream = "arn:aws:dynamodb:us-east-1:123456789012:table/jt/stream/2026-01-01T00:00:00.000"

func journalRecord(t *testing.T, c journalChange) journal.Record {
	keys := fmt.Sprintf(`{"pk":{"S":"k%04d"}}`, c.key)
	k, err := item.Unmarshal([]byte(keys))
	if err != nil {
		t.Fatal(err)
	}
	id, err := item.KeyID(k, "pk")
	if err != nil {
		t.Fatal(err)
	}
	r := journal.Record{ID: id, TimeMs: c.at.UnixMilli(), Seq: fmt.Sprint(c.seq), Stream: testStream, Keys: []byte(keys), Event: journal.EventModify}
	if c.del {
		r.Event = journal.EventRemove
	} else {
		r.NewImage = []byte(c.body)
	}
	return r
}

// journalModel is the state at t: each key's last change at or before t.
// The test's lag (journalTestLag) covers every segment's store, so no
// change is late.
func journalModel(changes []journalChange, t time.Time) map[string]string {
	last := map[int]journalChange{}
	for _, c := range changes {
		if !c.at.After(t) && c.seq > last[c.key].seq {
			last[c.key] = c
		}
	}
	out := map[string]string{}
	for k, c := range last {
		if !c.del {
			out[fmt.Sprintf("k%04d", k)] = c.body
		}
	}
	return out
}

// snapshotItems reads a local snapshot's items by their string key
// attribute key.
func snapshotItems(t *testing.T, dir, key string) map[string]string {
	t.Helper()
	ctx := context.Background()
	s, err := snapshot.Open(ctx, store.NewLocal(dir))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	err = s.EachItem(ctx, func(l snapshot.Line) error {
		it, err := item.Unmarshal(l.Item)
		if err != nil {
			return err
		}
		b, _ := item.Marshal(it)
		pk, ok := it[key].(*ddbtypes.AttributeValueMemberS)
		if !ok {
			return fmt.Errorf("item without a string %s: %s", key, b)
		}
		out[pk.Value] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compareStates(want, got map[string]string) string {
	var d []string
	for k, v := range want {
		if got[k] != v {
			d = append(d, fmt.Sprintf("%s: want %s, got %q", k, v, got[k]))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("%s: want absent, got %s", k, v))
		}
	}
	if len(d) > 5 {
		d = append(d[:5], fmt.Sprintf("... %d more", len(d)-5))
	}
	return strings.Join(d, "; ")
}

// writeJournal writes changes over a few seconds as a stream writer with
// the journal layout would, one segment a batch (one redelivered whole and
// one from its middle), and returns the changes and a time after each
// second of writes.
func writeJournal(t *testing.T, b journal.Bucket, dir string, keys, seconds int) ([]journalChange, []time.Time) {
	t.Helper()
	ctx := context.Background()
	// A lag of a few seconds: under load a segment's PUT can land more
	// than a second after its changes, and the model counts none as late.
	if err := journal.EnsureDescriptor(ctx, b, dir, journalTestLag, "test"); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	var all []journalChange
	var times []time.Time
	seq := int64(100)
	for s := range seconds {
		// Start each second's writes just after a second begins, so all of
		// them carry that second.
		now := time.Now()
		time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
		sec := time.Now().Truncate(time.Second)
		var batch []journalChange
		n := keys
		if s > 0 {
			n = keys / 5
		}
		for i := range n {
			k := i
			if s > 0 {
				k = rng.IntN(keys + keys/10)
			}
			seq += 1 + rng.Int64N(3)
			c := journalChange{key: k, at: sec, seq: seq, del: s > 0 && rng.IntN(4) == 0}
			if !c.del {
				c.body = fmt.Sprintf(`{"n":{"N":"%d"},"pk":{"S":"k%04d"},"tags":{"SS":["a","b"]},"v":{"S":"s%d-%d"}}`, rng.IntN(1e6), k, s, i)
			}
			batch = append(batch, c)
			if s > 0 && rng.IntN(25) == 0 { // a put and its delete in one second
				seq++
				batch = append(batch, journalChange{key: k, at: sec, seq: seq, del: true})
			}
		}
		for lo := 0; lo < len(batch); lo += 500 {
			part := batch[lo:min(lo+500, len(batch))]
			recs := make([]journal.Record, len(part))
			for i, c := range part {
				recs[i] = journalRecord(t, c)
			}
			if _, err := journal.WriteSegment(ctx, b, dir, recs, time.Now()); err != nil {
				t.Fatal(err)
			}
			switch s {
			case 1: // redelivered whole
				if _, err := journal.WriteSegment(ctx, b, dir, recs, time.Now()); err != nil {
					t.Fatal(err)
				}
			case 2: // redelivered from its middle
				if _, err := journal.WriteSegment(ctx, b, dir, recs[len(recs)/2:], time.Now()); err != nil {
					t.Fatal(err)
				}
			}
		}
		all = append(all, batch...)
		times = append(times, sec)
	}
	return all, times
}

// TestJournalCLI: a journal written as the stream writer writes it is read
// by snapshot (plain, incremental) at every second of its writes, exactly as
// the model says, before compaction and after it; compact run twice at once
// loses and duplicates nothing.
func TestJournalCLI(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "backups", "jt")
	b := &journal.S3Bucket{Client: c.S3(), Bucket: bucket}
	changes, times := writeJournal(t, b, src.Dir(), 1200, 4)
	// Reads wait out the lag themselves; compaction needs it passed.
	time.Sleep(time.Until(times[len(times)-1].Add(journalTestLag + 1500*time.Millisecond)))

	check := func(label string) map[string]string {
		var last string
		for i, at := range append([]time.Time{times[0].Add(-time.Second)}, times...) {
			out := filepath.Join(t.TempDir(), fmt.Sprintf("snap-%d", i))
			args := []string{"snapshot", "--source", src.String(), "--at", at.UTC().Format(time.RFC3339), "--out", out, "--quiet"}
			if last != "" {
				args = append(args, "--base", last)
			}
			if _, stderr, code := cli(args...); code != 0 {
				t.Fatalf("%s: snapshot at %s: exit %d: %s", label, at, code, stderr)
			}
			if d := compareStates(journalModel(changes, at), snapshotItems(t, out, "pk")); d != "" {
				t.Fatalf("%s: snapshot at %s differs from the model: %s", label, at, d)
			}
			last = out
		}
		return nil
	}
	check("segments only")

	// A sharded snapshot of the journal, committed, equals the model too.
	sharded := filepath.Join(t.TempDir(), "sharded")
	at := times[2].UTC().Format(time.RFC3339)
	for i := range 3 {
		if _, stderr, code := cli("snapshot", "--source", src.String(), "--at", at, "--out", sharded, "--shard", fmt.Sprintf("%d/3", i), "--quiet"); code != 0 {
			t.Fatalf("shard %d/3: exit %d: %s", i, code, stderr)
		}
	}
	if _, stderr, code := cli("snapshot", "commit", "--out", sharded, "--quiet"); code != 0 {
		t.Fatalf("snapshot commit: exit %d: %s", code, stderr)
	}
	if d := compareStates(journalModel(changes, times[2]), snapshotItems(t, sharded, "pk")); d != "" {
		t.Fatalf("sharded snapshot at %s differs from the model: %s", at, d)
	}

	// Two compactions at once: one output per window, nothing lost.
	errs := make(chan string, 2)
	for range 2 {
		go func() {
			_, stderr, code := cli("compact", "--source", src.String(), "--intervals", "1s,2s", "--base-every", "2s", "--delete-delay", "0s", "--quiet")
			if code != 0 {
				errs <- fmt.Sprintf("compact: exit %d: %s", code, stderr)
				return
			}
			errs <- ""
		}()
	}
	for range 2 {
		if e := <-errs; e != "" {
			t.Fatal(e)
		}
	}
	check("after two concurrent compactions")
	// Once more, when the last writes are past the lag and the skew: the
	// covered segments and level-1 files go.
	time.Sleep(time.Until(times[len(times)-1].Add(journalTestLag + 3*time.Second)))
	compactJSON(t, "--source", src.String(), "--intervals", "1s,2s", "--base-every", "2s", "--delete-delay", "0s")
	check("after deletion")
	var segs int
	b.List(ctx, src.Dir()+"journal/0/", "", func(journal.Object) bool { segs++; return true })
	if segs != 0 {
		t.Errorf("%d segments left after compaction with --delete-delay 0s", segs)
	}

	// restore --source into an empty table, then --rewind it to an earlier
	// time: both read the journal through the same walk.
	ddb := c.DynamoDB()
	table := relTable(t, ddb)
	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	if _, stderr, code := cli("restore", "--source", src.String(), "--at", rfc(times[3]), "--table", table, "--quiet"); code != 0 {
		t.Fatalf("restore --source: exit %d: %s", code, stderr)
	}
	if d := compareStates(journalModel(changes, times[3]), relTableModel(t, ddb, table)); d != "" {
		t.Fatalf("restore --source at %s differs from the model: %s", times[3], d)
	}
	if _, stderr, code := cli("restore", "--source", src.String(), "--at", rfc(times[1]), "--table", table, "--rewind", "--quiet"); code != 0 {
		t.Fatalf("restore --rewind: exit %d: %s", code, stderr)
	}
	if d := compareStates(journalModel(changes, times[1]), relTableModel(t, ddb, table)); d != "" {
		t.Fatalf("restore --rewind to %s differs from the model: %s", times[1], d)
	}
	// diff [times[1], times[3]): the keys with a change in the window whose
	// states at its two ends differ, or that changed more than once.
	before, after := journalModel(changes, times[1].Add(-time.Second)), journalModel(changes, times[3].Add(-time.Second))
	inWindow := map[string]int{}
	for _, ch := range changes {
		if !ch.at.Before(times[1]) && ch.at.Before(times[3]) {
			inWindow[fmt.Sprintf("k%04d", ch.key)]++
		}
	}
	wantDiff := 0
	for k, n := range inWindow {
		if n > 1 || before[k] != after[k] {
			wantDiff++
		}
	}
	stdout, stderr, code := cli("diff", "--source", src.String(), "--from", rfc(times[1]), "--to", rfc(times[3]), "--quiet")
	if code != 0 {
		t.Fatalf("diff: exit %d: %s", code, stderr)
	}
	if got := strings.Count(stdout, "\n"); got != wantDiff {
		t.Fatalf("diff lists %d keys, the model %d", got, wantDiff)
	}
	// history --key: every change of one key once, redeliveries dropped.
	want := 0
	for _, ch := range changes {
		if ch.key == 3 {
			want++
		}
	}
	stdout, stderr, code = cli("history", "--source", src.String(), "--key", `{"pk":{"S":"k0003"}}`, "--json")
	if code != 0 {
		t.Fatalf("history: exit %d: %s", code, stderr)
	}
	if got := strings.Count(stdout, "\n"); got != want {
		t.Fatalf("history lists %d changes of k0003, want %d:\n%s", got, want, stdout)
	}
}

// TestJournalBackfillThenStream: backfill writes a journal base, stream
// changes after it land in segments; snapshots see the backfilled items
// with the changes on top, before and after compaction.
func TestJournalBackfillThenStream(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	ddb := c.DynamoDB()
	table := idTable(t, ddb, "journal-backfill")
	const n = 600
	model := map[string]string{}
	var reqs []ddbtypes.WriteRequest
	for i := range n {
		id := fmt.Sprintf("item-%04d", i)
		reqs = append(reqs, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: map[string]ddbtypes.AttributeValue{
			"id": &ddbtypes.AttributeValueMemberS{Value: id}, "n": &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(i)}}}})
		model[id] = fmt.Sprintf(`{"id":{"S":"%s"},"n":{"N":"%d"}}`, id, i)
		if len(reqs) == 25 {
			if _, err := ddb.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{table: reqs}}); err != nil {
				t.Fatal(err)
			}
			reqs = nil
		}
	}
	bucket := testenv.Bucket(t, c, true)
	if stdout, stderr, code := backfillCLI("--table", table, "--dest", "s3://"+bucket+"/backups", "--layout", "journal", "--journal-lag", "1s",
		"--segments", "3", "--page-size", "50", "--checkpoint", t.TempDir()+"/cp.json", "--quiet"); code != 0 || !strings.Contains(stdout, "journal base") {
		t.Fatalf("backfill: exit %d: %s%s", code, stdout, stderr)
	}
	src := layout.TableLocation(bucket, "backups", table)
	b := &journal.S3Bucket{Client: c.S3(), Bucket: bucket}
	snap := func(label string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "snap")
		if _, stderr, code := cli("snapshot", "--source", src.String(), "--out", out, "--quiet"); code != 0 {
			t.Fatalf("%s: snapshot: exit %d: %s", label, code, stderr)
		}
		if d := compareStates(model, snapshotItems(t, out, "id")); d != "" {
			t.Fatalf("%s: %s", label, d)
		}
	}
	snap("after the backfill")

	// Stream changes after the backfill: modify, delete, insert.
	var recs []journal.Record
	now := time.Now()
	for i := 0; i < 120; i++ {
		id := fmt.Sprintf("item-%04d", i*5)
		if i >= 100 {
			id = fmt.Sprintf("item-%04d", n+i)
		}
		keys := fmt.Sprintf(`{"id":{"S":"%s"}}`, id)
		k, _ := item.Unmarshal([]byte(keys))
		oid, _ := item.KeyID(k, "id")
		r := journal.Record{ID: oid, TimeMs: now.UnixMilli(), Seq: fmt.Sprint(1000 + i), Stream: testStream, Keys: []byte(keys), Event: journal.EventModify}
		if i%4 == 3 && i < 100 {
			r.Event = journal.EventRemove
			delete(model, id)
		} else {
			r.NewImage = []byte(fmt.Sprintf(`{"id":{"S":"%s"},"n":{"N":"-%d"}}`, id, i))
			model[id] = string(r.NewImage)
		}
		recs = append(recs, r)
	}
	if _, err := journal.WriteSegment(ctx, b, src.Dir(), recs, time.Now()); err != nil {
		t.Fatal(err)
	}
	snap("after the stream's changes")
	time.Sleep(2500 * time.Millisecond)
	if _, stderr, code := cli("compact", "--source", src.String(), "--intervals", "1s", "--base-every", "1s", "--delete-delay", "0s", "--quiet"); code != 0 {
		t.Fatalf("compact: exit %d: %s", code, stderr)
	}
	snap("after compaction")
}

// TestJournalCompactKilled: kill -9 in the middle of compact leaves a
// journal that reads exactly as before, and the next compact finishes.
func TestJournalCompactKilled(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "backups", "jk")
	b := &journal.S3Bucket{Client: c.S3(), Bucket: bucket}
	changes, times := writeJournal(t, b, src.Dir(), 12000, 2)
	time.Sleep(time.Until(times[len(times)-1].Add(journalTestLag + 2*time.Second)))
	at := times[len(times)-1]
	want := journalModel(changes, at)
	read := func(label string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "snap")
		if _, stderr, code := cli("snapshot", "--source", src.String(), "--at", at.UTC().Format(time.RFC3339), "--out", out, "--quiet"); code != 0 {
			t.Fatalf("%s: snapshot: exit %d: %s", label, code, stderr)
		}
		if d := compareStates(want, snapshotItems(t, out, "pk")); d != "" {
			t.Fatalf("%s: %s", label, d)
		}
	}
	args := []string{"compact", "--source", src.String(), "--intervals", "1s", "--base-every", "1s", "--delete-delay", "0s", "--part-size", "1MiB", "--quiet"}
	cmd := exec.Command(binary(t), args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once it has stored a part, before its manifest.
	killed := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		var parts int
		b.List(ctx, src.Dir()+"journal/1/", "", func(o journal.Object) bool {
			if strings.Contains(o.Key, "/part-") {
				parts++
			}
			return true
		})
		if parts > 0 {
			cmd.Process.Kill()
			killed = true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Wait()
	if !killed {
		t.Fatal("compact stored no part within 30s")
	}
	read("after kill -9")
	if _, stderr, code := cli(args...); code != 0 {
		t.Fatalf("compact again: exit %d: %s", code, stderr)
	}
	var manifests int
	b.List(ctx, src.Dir()+"journal/", "", func(o journal.Object) bool {
		if strings.HasSuffix(o.Key, "/manifest.json") {
			manifests++
		}
		return true
	})
	if manifests == 0 {
		t.Fatal("the second compact wrote no output")
	}
	read("after the next compact")
}

// compactJSON runs compact with args and --json and returns its report;
// the test fails on a non-zero exit or a report it cannot read.
func compactJSON(t *testing.T, args ...string) compactReport {
	t.Helper()
	stdout, stderr, code := cli(append(append([]string{"compact"}, args...), "--json")...)
	if code != 0 {
		t.Fatalf("compact: exit %d: %s", code, stderr)
	}
	var rep compactReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("compact --json: %v: %s", err, stdout)
	}
	t.Logf("compact: %s", stderr)
	return rep
}
