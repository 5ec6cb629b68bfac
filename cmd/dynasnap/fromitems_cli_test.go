package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/stream"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// fiChange is one change of the moving-over tests.
type fiChange struct {
	key  int
	seq  int64
	del  bool
	body string
}

func fiRecord(table string, at time.Time, c fiChange) stream.Record {
	keys := fmt.Sprintf(`{"pk":{"S":"k%03d"}}`, c.key)
	r := stream.Record{EventID: fmt.Sprint(c.seq), EventName: "MODIFY", EventSource: "aws:dynamodb", AWSRegion: "us-east-1",
		EventSourceARN: "arn:aws:dynamodb:us-east-1:123456789012:table/" + table + "/stream/2026-01-01T00:00:00.000",
		Change: stream.StreamRecord{ApproximateCreationDateTime: json.Number(fmt.Sprint(at.Unix())), Keys: json.RawMessage(keys),
			SequenceNumber: fmt.Sprintf("%021d", c.seq), StreamViewType: "NEW_AND_OLD_IMAGES", SizeBytes: 100}}
	if c.del {
		r.EventName = "REMOVE"
	} else {
		r.Change.NewImage = json.RawMessage(c.body)
	}
	return r
}

// fiBatch makes n changes on 30 keys, from seq on.
func fiBatch(rng *rand.Rand, seq *int64, n int) []fiChange {
	var out []fiChange
	for i := range n {
		*seq += 1 + rng.Int64N(3)
		c := fiChange{key: rng.IntN(30), seq: *seq, del: rng.IntN(5) == 0}
		if !c.del {
			c.body = fmt.Sprintf(`{"n":{"N":"%d"},"pk":{"S":"k%03d"},"v":{"S":"s%d-%d"}}`, rng.IntN(1e6), c.key, *seq, i)
		}
		out = append(out, c)
	}
	return out
}

// applyChanges is a state with changes applied in order.
func applyChanges(state map[string]string, cs []fiChange) map[string]string {
	out := map[string]string{}
	for k, v := range state {
		out[k] = v
	}
	for _, c := range cs {
		k := fmt.Sprintf("k%03d", c.key)
		if c.del {
			delete(out, k)
		} else {
			out[k] = c.body
		}
	}
	return out
}

// journalWriter is a stream writer with DYNASNAP_LAYOUT=journal and a lag
// of 2s, as a new Lambda process starts it.
func journalWriter(t *testing.T, client stream.S3API, bucket string) *stream.Handler {
	t.Helper()
	h, err := stream.New(client, stream.Config{Bucket: bucket, Prefix: "backups", Concurrency: 8, Layout: stream.LayoutJournal, JournalLag: 2 * time.Second},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// nextSecond sleeps to just after the next whole second and returns it.
func nextSecond() time.Time {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 30*time.Millisecond).Sub(now))
	return time.Now().Truncate(time.Second)
}

// TestJournalFromItemsCLI: a per-item backup written by the stream writer
// is moved over with compact --from-items: a snapshot of the journal equals
// the snapshot of the per-item backup at every second it was written;
// while the import's window is open, the item versions a writer not yet
// switched stores are read with the journal; a writer started after the
// import writes segments; the second run folds the window in; nothing is
// lost or counted twice, and compaction goes on.
func TestJournalFromItemsCLI(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "backups", "mi")
	old := journalWriter(t, c.S3(), bucket)
	rng := rand.New(rand.NewPCG(25, 3))
	seq := int64(1000)
	// The per-item backup: the first batch goes to an empty folder with
	// the items layout (an old deployment); the writer with
	// DYNASNAP_LAYOUT=journal then keeps items there.
	itemsWriter, err := stream.New(c.S3(), stream.Config{Bucket: bucket, Prefix: "backups", Concurrency: 8}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	handle := func(h *stream.Handler, cs []fiChange, at time.Time) {
		t.Helper()
		var ev stream.Event
		for _, ch := range cs {
			ev.Records = append(ev.Records, fiRecord("mi", at, ch))
		}
		resp, err := h.Handle(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("handle: %v %+v", err, resp.BatchItemFailures)
		}
	}
	var times []time.Time
	snaps := map[time.Time]map[string]string{}
	for i := range 3 {
		sec := nextSecond()
		w := old
		if i == 0 {
			w = itemsWriter
		}
		handle(w, fiBatch(rng, &seq, 40), sec)
		times = append(times, time.Now().Truncate(time.Second)) // the batch's versions are stored by then
	}
	time.Sleep(time.Until(times[2].Add(1100 * time.Millisecond)))
	for _, at := range times {
		out := filepath.Join(t.TempDir(), "items")
		if _, stderr, code := cli("snapshot", "--source", src.String(), "--at", at.UTC().Format(time.RFC3339), "--out", out, "--quiet"); code != 0 {
			t.Fatalf("snapshot of the items at %s: %s", at, stderr)
		}
		snaps[at] = snapshotItems(t, out, "pk")
	}

	// Import up to now.
	stdout, stderr, code := cli("compact", "--source", src.String(), "--from-items", "--journal-lag", "2s", "--json")
	if code != 0 {
		t.Fatalf("compact --from-items: exit %d: %s", code, stderr)
	}
	var rep journal.FromItemsReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Phase != "import" || rep.Versions == 0 || rep.Deletes == 0 {
		t.Fatalf("compact --from-items: %v %s", err, stdout)
	}
	check := func(label string, at time.Time, want map[string]string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "j")
		if _, stderr, code := cli("snapshot", "--source", src.String(), "--at", at.UTC().Format(time.RFC3339), "--out", out, "--quiet"); code != 0 {
			t.Fatalf("%s: snapshot at %s: %s", label, at, stderr)
		}
		if d := compareStates(want, snapshotItems(t, out, "pk")); d != "" {
			t.Fatalf("%s: snapshot at %s: %s", label, at, d)
		}
	}
	for _, at := range times {
		check("imported", at, snaps[at])
	}
	// The window: the warm writer still writes items (it looks again for
	// a journal a minute after it found items); a new one writes segments.
	sec := nextSecond()
	win := fiBatch(rng, &seq, 30)
	handle(old, win, sec)
	sec = time.Now().Truncate(time.Second)
	afterWin := applyChanges(snaps[times[2]], win)
	time.Sleep(time.Until(sec.Add(1100 * time.Millisecond)))
	check("the window's item versions", sec, afterWin)
	fresh := journalWriter(t, c.S3(), bucket)
	sec2 := nextSecond()
	segs := fiBatch(rng, &seq, 30)
	handle(fresh, segs, sec2)
	sec2 = time.Now().Truncate(time.Second)
	var n int
	(&journal.S3Bucket{Client: c.S3(), Bucket: bucket}).List(ctx, src.Dir()+"journal/0/", "", func(journal.Object) bool { n++; return true })
	if n != 1 {
		t.Fatalf("the new writer stored %d segments, want 1", n)
	}
	final := applyChanges(afterWin, segs)
	check("items and segments", sec2, final)
	check("still the items", sec, afterWin)

	// Close the window once it is past the lag; then compact as usual.
	time.Sleep(time.Until(sec2.Add(2*time.Second + 3*time.Second)))
	stdout, stderr, code = cli("compact", "--source", src.String(), "--from-items", "--json")
	if code != 0 {
		t.Fatalf("compact --from-items (close): exit %d: %s", code, stderr)
	}
	rep = journal.FromItemsReport{}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Phase != "close" || rep.Versions == 0 {
		t.Fatalf("compact --from-items (close): %v %s", err, stdout)
	}
	if _, stderr, code := cli("compact", "--source", src.String(), "--intervals", "1s,1m", "--delete-delay", "0s", "--quiet"); code != 0 {
		t.Fatalf("compact after the move: %s", stderr)
	}
	for _, at := range times {
		check("after the move", at, snaps[at])
	}
	check("after the move", sec, afterWin)
	check("after the move", sec2, final)
	// history: every version of one key once.
	stdout, stderr, code = cli("history", "--source", src.String(), "--key", `{"pk":{"S":"k003"}}`, "--json")
	if code != 0 {
		t.Fatalf("history: %s", stderr)
	}
	t.Logf("history of k003 after the move: %d versions", strings.Count(stdout, "\n"))
}

// TestJournalFromMapboxCLI: mapbox/dynamodb-replicator's incremental
// backup (objects named by the md5 of the record's Keys JSON, the
// NewImage JSON as body, a delete marker per REMOVE) is moved into a
// journal its dynasnap writer has fed since before the cut: snapshots at
// every second equal the model, before and after compaction, with no
// change lost or counted twice.
func TestJournalFromMapboxCLI(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "backups", "mt")
	w := journalWriter(t, c.S3(), bucket)
	rng := rand.New(rand.NewPCG(25, 4))
	seq := int64(5000)
	mapbox := func(cs []fiChange) {
		for _, ch := range cs {
			keys := fmt.Sprintf(`{"pk":{"S":"k%03d"}}`, ch.key)
			key := "mapbox/mt/" + journal.MapboxObjectName([]byte(keys))
			var err error
			if ch.del {
				_, err = c.S3().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			} else {
				_, err = c.S3().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader([]byte(ch.body))})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	state := map[string]string{}
	var times []time.Time
	models := map[time.Time]map[string]string{}
	// The old backup alone, then both writers (the dynasnap one deployed
	// beside mapbox's), then only dynasnap's after the import.
	for i := range 5 {
		sec := nextSecond()
		cs := fiBatch(rng, &seq, 25)
		if i < 4 {
			mapbox(cs)
		}
		if i >= 2 {
			var ev stream.Event
			for _, ch := range cs {
				ev.Records = append(ev.Records, fiRecord("mt", sec, ch))
			}
			if resp, err := w.Handle(ctx, ev); err != nil || len(resp.BatchItemFailures) > 0 {
				t.Fatalf("handle: %v %+v", err, resp)
			}
		}
		// The state once the batch is stored (a batch may end in the
		// second after it began).
		end := time.Now().Truncate(time.Second)
		state = applyChanges(state, cs)
		models[end] = state
		times = append(times, end)
		if i == 3 {
			// The import: after the dynasnap writer has run for the lag.
			time.Sleep(time.Until(end.Add(2*time.Second + 1100*time.Millisecond)))
			if _, stderr, code := cli("compact", "--source", src.String(), "--from-items=mapbox", "--items", "s3://"+bucket+"/mapbox/mt", "--key-schema", "pk:S", "--quiet"); code != 0 {
				t.Fatalf("compact --from-items=mapbox: exit %d: %s", code, stderr)
			}
		}
	}
	check := func(label string) {
		t.Helper()
		for _, at := range times {
			out := filepath.Join(t.TempDir(), "j")
			if _, stderr, code := cli("snapshot", "--source", src.String(), "--at", at.UTC().Format(time.RFC3339), "--out", out, "--quiet"); code != 0 {
				t.Fatalf("%s: snapshot at %s: %s", label, at, stderr)
			}
			if d := compareStates(models[at], snapshotItems(t, out, "pk")); d != "" {
				t.Fatalf("%s: snapshot at %s: %s", label, at, d)
			}
		}
	}
	time.Sleep(time.Until(times[4].Add(2*time.Second + 1100*time.Millisecond)))
	check("imported")
	time.Sleep(2 * time.Second)
	if _, stderr, code := cli("compact", "--source", src.String(), "--intervals", "1s,1m", "--delete-delay", "0s", "--quiet"); code != 0 {
		t.Fatalf("compact: %s", stderr)
	}
	check("compacted")
}
