package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	hist "github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/testsupport/backuptest"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// The two streams of a table deleted and created again: the newer one's
// sequence numbers are lower than the old one's (and one digit shorter).
const (
	oldStream = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026-01-01T00:00:00.000"
	newStream = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026-06-01T00:00:00.000"
)

// journalGen makes stream records the way DynamoDB does: events that follow
// the table's state, sequence numbers growing per stream.
type journalGen struct {
	rnd    *rand.Rand
	seq    map[string]*big.Int
	exists map[string]bool // the table's items, as the stream's events say
	ttl    map[string]bool // sequence numbers of TTL deletes
	sent   []Record        // every change sent at least once
}

func newJournalGen() *journalGen {
	old, _ := new(big.Int).SetString("999999999999999999500", 10) // passes 10^21 after 500 changes
	nw, _ := new(big.Int).SetString("100000000000000000000", 10)
	return &journalGen{rnd: rand.New(rand.NewPCG(24, 1)), seq: map[string]*big.Int{oldStream: old, newStream: nw},
		exists: map[string]bool{}, ttl: map[string]bool{}}
}

// change makes one record of key made at sec (Unix seconds); event "" picks
// one the item's state allows.
func (g *journalGen) change(arn, key, event string, sec int64) Record {
	s := g.seq[arn]
	s.Add(s, big.NewInt(1+int64(g.rnd.IntN(3))))
	if event == "" {
		switch {
		case !g.exists[key]:
			event = "INSERT"
		case g.rnd.IntN(4) == 0:
			event = "REMOVE"
		default:
			event = "MODIFY"
		}
	}
	r := Record{EventName: event, EventSource: "aws:dynamodb", EventSourceARN: arn, AWSRegion: "us-east-1",
		Change: StreamRecord{ApproximateCreationDateTime: json.Number(strconv.FormatInt(sec, 10)),
			Keys: json.RawMessage(`{"pk":{"S":"` + key + `"}}`), SequenceNumber: s.String(), StreamViewType: "NEW_AND_OLD_IMAGES"}}
	if event == "REMOVE" {
		g.exists[key] = false
		if g.rnd.IntN(3) == 0 {
			r.UserIdentity = &UserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}
			g.ttl[r.Change.SequenceNumber] = true
		}
	} else {
		g.exists[key] = true
		r.Change.NewImage = json.RawMessage(`{"v":{"N":"` + s.String() + `"},"pk":{"S":"` + key + `"},"at":{"N":"` + strconv.FormatInt(sec, 10) + `"}}`)
	}
	return r
}

func (g *journalGen) batch(arn string, n, keys int, sec int64) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = g.change(arn, fmt.Sprintf("k%03d", g.rnd.IntN(keys)), "", sec)
	}
	return recs
}

// oracleState is an item at T by the model: the last change made at or
// before T, changes ordered by stream label, then sequence number as a
// number. exists false: deleted or never written.
type oracleState struct {
	exists bool
	image  string // canonical JSON
	seq    string
}

func oracle(t *testing.T, sent []Record, at time.Time) map[string]oracleState {
	t.Helper()
	type best struct {
		label time.Time
		seq   *big.Int
		rec   *Record
	}
	last := map[string]best{}
	for i := range sent {
		r := &sent[i]
		sec, _ := r.Change.ApproximateCreationDateTime.Int64()
		if time.Unix(sec, 0).After(at) {
			continue
		}
		label, err := time.Parse("2006-01-02T15:04:05", r.EventSourceARN[strings.LastIndex(r.EventSourceARN, "/")+1:])
		if err != nil {
			t.Fatal(err)
		}
		seq, _ := new(big.Int).SetString(r.Change.SequenceNumber, 10)
		k := string(r.Change.Keys)
		b, ok := last[k]
		if !ok || label.After(b.label) || (label.Equal(b.label) && seq.Cmp(b.seq) > 0) {
			last[k] = best{label, seq, r}
		}
	}
	out := map[string]oracleState{}
	for k, b := range last {
		id := keyIDOf(t, k)
		if b.rec.EventName == "REMOVE" {
			out[id] = oracleState{seq: b.rec.Change.SequenceNumber}
			continue
		}
		it, err := item.Unmarshal(b.rec.Change.NewImage)
		if err != nil {
			t.Fatal(err)
		}
		img, _ := item.Marshal(it)
		out[id] = oracleState{exists: true, image: string(img), seq: b.rec.Change.SequenceNumber}
	}
	return out
}

func keyIDOf(t *testing.T, keyJSON string) string {
	t.Helper()
	k, err := item.Unmarshal([]byte(keyJSON))
	if err != nil {
		t.Fatal(err)
	}
	id, err := item.KeyID(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// countingProxy counts the S3 requests the writer makes, by method, and
// fails those fail picks.
type countingProxy struct {
	mu    sync.Mutex
	n     map[string]int
	fail  func(*http.Request) bool
	proxy *backuptest.Proxy
}

func newCountingProxy(t *testing.T) *countingProxy {
	p := &countingProxy{n: map[string]int{}, proxy: backuptest.NewProxy(t, os.Getenv("AWS_ENDPOINT_URL_S3"))}
	p.proxy.Fail(func(r *http.Request) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.n[r.Method]++
		return p.fail != nil && p.fail(r)
	})
	return p
}

func (p *countingProxy) take() (map[string]int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, total := p.n, 0
	for _, v := range n {
		total += v
	}
	p.n = map[string]int{}
	return n, total
}

func (p *countingProxy) setFail(f func(*http.Request) bool) {
	p.mu.Lock()
	p.fail = f
	p.mu.Unlock()
}

// The journal layout against SeaweedFS: 1,000 changes in batches of 500
// cost at most 5 S3 requests, a cold start included (of a writer whose
// journal exists: the first batch ever also lists the folder once and
// stores the descriptor); batches redelivered
// whole and from their middle, a failed PUT, a same-second put and delete
// of one key and the two streams of a re-created table all read back, at
// every time checked, as the model of what was sent says.
func TestJournalAgainstSeaweedFS(t *testing.T) {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, true)
	ctx := context.Background()
	proxy := newCountingProxy(t)
	pc, err := awsconf.Load(ctx, awsconf.Options{EndpointURL: proxy.proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	// The lag covers the whole write phase: every change counts at its own
	// time (none late), so the model needs no store times.
	const lag = 5 * time.Second
	// The journal exists (an earlier process created it).
	if err := journal.EnsureDescriptor(ctx, &journal.S3Bucket{Client: c.S3(), Bucket: bucket}, "backups/Orders/", lag, "test"); err != nil {
		t.Fatal(err)
	}
	h, err := New(pc.S3(), Config{Bucket: bucket, Prefix: "backups", Layout: LayoutJournal, JournalLag: lag, Tool: "test"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	handle := func(recs []Record) string {
		t.Helper()
		resp, err := h.Handle(ctx, Event{Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.BatchItemFailures) > 0 {
			return resp.BatchItemFailures[0].ItemIdentifier
		}
		return ""
	}
	g := newJournalGen()
	// Whole seconds, as DynamoDB sends them, a little ahead so that every
	// segment is stored before its changes' times plus the lag.
	t0 := time.Now().Truncate(time.Second).Add(2 * time.Second)
	sec := func(d int) int64 { return t0.Unix() + int64(d) }
	sent := func(recs ...Record) { g.sent = append(g.sent, recs...) }

	// 1,000 changes in two batches of 500, from a cold start.
	b1, b2 := g.batch(oldStream, 500, 300, sec(0)), g.batch(oldStream, 500, 300, sec(1))
	for _, b := range [][]Record{b1, b2} {
		if f := handle(b); f != "" {
			t.Fatalf("batch failed at %s", f)
		}
		sent(b...)
	}
	n, total := proxy.take()
	t.Logf("S3 requests for 1,000 changes in 2 batches of 500, cold start included: %d %v", total, n)
	if total > 5 {
		t.Errorf("%d S3 requests for 1,000 changes (%v), want at most 5", total, n)
	}

	// The same batch again, whole (a response lost): a new segment, nothing
	// counted twice.
	if f := handle(b2); f != "" {
		t.Fatalf("redelivery failed at %s", f)
	}
	// A same-second put then delete of one key, and delete then put of
	// another, ordered only by their sequence numbers.
	b3 := g.batch(oldStream, 150, 300, sec(2))
	b3 = append(b3, g.change(oldStream, "same-second", "INSERT", sec(2)), g.change(oldStream, "same-second", "REMOVE", sec(2)))
	b3 = append(b3, g.change(oldStream, "k001", "REMOVE", sec(2)), g.change(oldStream, "k001", "INSERT", sec(2)))
	b3 = append(b3, g.batch(oldStream, 50, 300, sec(2))...)
	// The first delivery's segment fails: the whole batch is reported and
	// nothing of it is stored.
	proxy.setFail(func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/journal/0/")
	})
	if f := handle(b3); f != b3[0].Change.SequenceNumber {
		t.Fatalf("failed PUT reported at %q, want the first record %s", f, b3[0].Change.SequenceNumber)
	}
	proxy.setFail(nil)
	if f := handle(b3); f != "" {
		t.Fatalf("batch failed at %s", f)
	}
	sent(b3...)
	// Redelivered from its middle with new records after it.
	more := g.batch(oldStream, 60, 300, sec(3))
	if f := handle(append(b3[120:], more...)); f != "" {
		t.Fatalf("batch failed at %s", f)
	}
	sent(more...)
	// The table is deleted and created again: a new stream, lower sequence
	// numbers, an empty table.
	clear(g.exists)
	b5 := g.batch(newStream, 200, 300, sec(4))
	if f := handle(b5); f != "" {
		t.Fatalf("batch failed at %s", f)
	}
	sent(b5...)
	b6 := g.batch(newStream, 100, 300, sec(5))
	if f := handle(b6[:70]); f != "" {
		t.Fatalf("batch failed at %s", f)
	}
	if f := handle(b6[30:]); f != "" {
		t.Fatalf("batch failed at %s", f)
	}
	sent(b6...)
	if d := time.Since(t0); d > lag-time.Second {
		t.Fatalf("writing took until %v after the first change time, over the lag %v: the model would not hold", d, lag)
	}
	n, total = proxy.take()
	t.Logf("S3 requests for the 7 deliveries after them (one failed): %d %v", total, n)
	if total != 7 {
		t.Errorf("%d S3 requests for 7 deliveries of a warm writer (%v), want one PUT each", total, n)
	}

	// Read back at several times, each against the model.
	jb := &journal.S3Bucket{Client: c.S3(), Bucket: bucket}
	st, err := journal.LoadState(ctx, jb, "backups/Orders/")
	if err != nil {
		t.Fatal(err)
	}
	if st.Desc.Lag() != lag {
		t.Fatalf("descriptor lag %v, want %v", st.Desc.Lag(), lag)
	}
	r := journal.Reader{Bucket: jb}
	for _, at := range []time.Time{t0.Add(-time.Second), t0, t0.Add(500 * time.Millisecond), t0.Add(time.Second), t0.Add(2 * time.Second),
		t0.Add(3 * time.Second), t0.Add(4 * time.Second), t0.Add(5 * time.Second)} {
		want := oracle(t, g.sent, at)
		got := map[string]journal.Record{}
		var rs journal.ReadStats
		err := r.MergeState(ctx, st, "", "", []time.Time{at}, &rs, func(grp []journal.Record, _ time.Time) error {
			seen := map[string]bool{}
			for _, rec := range grp {
				if seen[rec.Stream+" "+rec.Seq] {
					return fmt.Errorf("change %s of %s read twice", rec.Seq, rec.ID)
				}
				seen[rec.Stream+" "+rec.Seq] = true
				if rec.TTL != g.ttl[rec.Seq] {
					return fmt.Errorf("change %s: ttl %v", rec.Seq, rec.TTL)
				}
			}
			got[grp[0].ID] = grp[len(grp)-1]
			return nil
		})
		if err != nil {
			t.Fatalf("read at %v: %v", at, err)
		}
		if n := rs.Late.Load(); n != 0 {
			t.Fatalf("read at %v: %d changes late: the writes outran the lag", at, n)
		}
		bad := 0
		for id, w := range want {
			rec, ok := got[id]
			switch {
			case !ok:
				t.Errorf("at %v: %s missing (model: seq %s exists %v)", at.Sub(t0), id, w.seq, w.exists)
			case rec.Seq != w.seq || rec.IsDelete() == w.exists || (w.exists && string(rec.NewImage) != w.image):
				t.Errorf("at %v: %s is seq %s delete %v %s, model seq %s exists %v %s", at.Sub(t0), id, rec.Seq, rec.IsDelete(), rec.NewImage, w.seq, w.exists, w.image)
			default:
				continue
			}
			if bad++; bad > 5 {
				t.FailNow()
			}
		}
		for id := range got {
			if _, ok := want[id]; !ok {
				t.Errorf("at %v: %s read, not in the model", at.Sub(t0), id)
			}
		}
		t.Logf("at t0 + %v: %d keys, %d records read from %d objects", at.Sub(t0), len(got), rs.Records.Load(), rs.Objects.Load())
	}

	// The history package reads the writer's folder as a journal: the
	// same-second put and delete, newest first, each once.
	src := s3source.New(c.S3(), bucket)
	ch, err := hist.ItemChanges(ctx, src, "backups/Orders/"+keyIDOf(t, `{"pk":{"S":"same-second"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != 2 || ch[0].Event != hist.Remove || ch[1].Event != hist.Insert || !ch[0].Time.Equal(time.Unix(sec(2), 0)) {
		t.Errorf("history of the same-second key: %+v", ch)
	}
}
