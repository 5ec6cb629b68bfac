package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/stream"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestSwitchToJournalUnderRIE: a live writer under the emulator, deployed
// with DYNASNAP_LAYOUT=journal on a folder holding a per-item backup,
// writes items; `compact --from-items` imports the backup while batches
// keep coming; the warm writer switches to segments on its own; the
// second run closes the window. At every batch's second, before and
// after the close, the journal's state is the model's: nothing lost,
// nothing counted twice.
func TestSwitchToJournalUnderRIE(t *testing.T) {
	c := testenv.Clients(t)
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	// The old deployment's per-item backup: its first batch.
	items, err := stream.New(c.S3(), stream.Config{Bucket: bucket, Prefix: "backups", Concurrency: 8}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(25, 5))
	seq := int64(1000)
	type change struct {
		key  int
		del  bool
		body string
	}
	model := map[string]string{}
	states := map[time.Time]map[string]string{}
	batch := func(sec time.Time) ([]byte, []change) {
		var recs []stream.Record
		var cs []change
		for i := range 20 {
			seq += 1 + rng.Int64N(3)
			ch := change{key: rng.IntN(25), del: rng.IntN(5) == 0}
			if i == 0 {
				ch.key = 3
			}
			keys := fmt.Sprintf(`{"pk":{"S":"k%02d"}}`, ch.key)
			r := stream.Record{EventID: fmt.Sprint(seq), EventName: "MODIFY", EventSource: "aws:dynamodb", AWSRegion: "us-east-1",
				EventSourceARN: "arn:aws:dynamodb:us-east-1:123456789012:table/sw/stream/2026-01-01T00:00:00.000",
				Change: stream.StreamRecord{ApproximateCreationDateTime: json.Number(fmt.Sprint(sec.Unix())), Keys: json.RawMessage(keys),
					SequenceNumber: fmt.Sprintf("%021d", seq), StreamViewType: "NEW_AND_OLD_IMAGES", SizeBytes: 50}}
			if ch.del {
				r.EventName = "REMOVE"
			} else {
				ch.body = fmt.Sprintf(`{"pk":{"S":"k%02d"},"v":{"N":"%d"}}`, ch.key, seq)
				r.Change.NewImage = json.RawMessage(ch.body)
			}
			recs = append(recs, r)
			cs = append(cs, ch)
		}
		b, _ := json.Marshal(stream.Event{Records: recs})
		return b, cs
	}
	apply := func(cs []change, at time.Time) {
		for _, ch := range cs {
			k := fmt.Sprintf("k%02d", ch.key)
			if ch.del {
				delete(model, k)
			} else {
				model[k] = ch.body
			}
		}
		s := map[string]string{}
		for k, v := range model {
			s[k] = v
		}
		states[at] = s
	}
	next := func() time.Time {
		now := time.Now()
		time.Sleep(now.Truncate(time.Second).Add(time.Second + 30*time.Millisecond).Sub(now))
		return time.Now().Truncate(time.Second)
	}
	sec := next()
	ev, cs := batch(sec)
	var e stream.Event
	json.Unmarshal(ev, &e)
	if resp, err := items.Handle(ctx, e); err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("the per-item backup's first batch: %v %+v", err, resp)
	}
	apply(cs, time.Now().Truncate(time.Second))

	var logs syncBuffer
	url := startRIE(t, emulator(t), buildBootstrap(t), &logs, map[string]string{
		"DYNASNAP_BUCKET":            bucket,
		"DYNASNAP_PREFIX":            "backups",
		"DYNASNAP_LAYOUT":            "journal",
		"DYNASNAP_JOURNAL_LAG":       "2s",
		"DYNASNAP_ITEMS_RECHECK":     "3s",
		"DYNASNAP_RECORD_DEFINITION": "false",
	})
	dir := "backups/sw/"
	jb := &journal.S3Bucket{Client: c.S3(), Bucket: bucket}
	imp := func() *journal.FromItems {
		return &journal.FromItems{Bucket: jb, Versions: s3source.New(c.S3(), bucket), Dir: dir, Format: journal.ItemsDynasnap,
			Schema: keyschema.Schema{Hash: keyschema.Attr{Name: "pk", Type: "S"}}, Lag: 2 * time.Second, Skew: time.Second, Tool: "test", Concurrency: 8}
	}
	// Batches every second; the import runs beside them.
	var wg sync.WaitGroup
	var impErr error
	for i := range 12 {
		sec := next()
		ev, cs := batch(sec)
		if resp := invoke(t, url, ev); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("batch %d: failures %+v; logs:\n%s", i, resp.BatchItemFailures, logs.String())
		}
		apply(cs, time.Now().Truncate(time.Second))
		if i == 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, impErr = imp().Run(ctx)
			}()
		}
	}
	wg.Wait()
	if impErr != nil {
		t.Fatal(impErr)
	}
	if !logs.waitFor("the table folder is a journal now") {
		t.Fatalf("the writer did not switch to segments; logs:\n%s", logs.String())
	}
	var segs int
	jb.List(ctx, dir+"journal/0/", "", func(journal.Object) bool { segs++; return true })
	if segs == 0 {
		t.Fatal("no segment after the switch")
	}
	check := func(label string) {
		t.Helper()
		src := s3source.New(c.S3(), bucket)
		for at, want := range states {
			got := map[string]string{}
			byKey := map[string][]history.Entry{}
			ok, err := src.Merge(ctx, dir, "", "", []time.Time{at, history.UpToNow}, nil, func(e history.Entry) error {
				byKey[e.Key] = append(byKey[e.Key], e)
				return nil
			})
			if err != nil || !ok {
				t.Fatalf("%s: merge at %s: %v %v", label, at, ok, err)
			}
			for _, es := range byKey {
				if e, ok := history.StateAt(es, at); ok {
					var buf bytes.Buffer
					it, err := history.ReadItem(ctx, src, e, &buf)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := item.Marshal(it)
					pk, _ := it["pk"].(*types.AttributeValueMemberS)
					if pk == nil {
						t.Fatalf("item without pk: %s", b)
					}
					got[pk.Value] = string(b)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%s: at %s %d items, the model %d", label, at, len(got), len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("%s: at %s %s is %q, the model %q", label, at, k, got[k], v)
				}
			}
		}
	}
	time.Sleep(3 * time.Second) // past the lag of the last batch
	check("window open")
	rep, err := imp().Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Phase != "close" || rep.Versions+rep.Deletes == 0 {
		t.Fatalf("second run: %+v (want the item versions the writer stored after the cut)", rep)
	}
	t.Logf("switch: %d segments; the window (%s, %s] held %d item versions and %d deletes", segs, rep.Cut.Format(time.TimeOnly), rep.WindowTo.Format(time.TimeOnly), rep.Versions, rep.Deletes)
	check("window closed")
	st, err := journal.LoadState(ctx, jb, dir)
	if err != nil || !st.ItemsWindow().IsZero() {
		t.Fatalf("window marker left: %v", err)
	}
}
