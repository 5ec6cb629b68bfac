package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/testsupport/backuptest"
)

// memJournal is an in-memory journal.Bucket that counts calls and fails
// the ones Fail picks.
type memJournal struct {
	mu    sync.Mutex
	objs  map[string]journal.Object
	body  map[string][]byte
	Calls map[string]int
	Fail  func(op, key string) error
}

func newMemJournal() *memJournal {
	return &memJournal{objs: map[string]journal.Object{}, body: map[string][]byte{}, Calls: map[string]int{}}
}

func (m *memJournal) Name() string { return "bkt" }

func (m *memJournal) call(op, key string) error {
	m.mu.Lock()
	m.Calls[op]++
	f := m.Fail
	m.mu.Unlock()
	if f != nil {
		return f(op, key)
	}
	return nil
}

func (m *memJournal) List(ctx context.Context, prefix, startAfter string, fn func(journal.Object) bool) error {
	if err := m.call("List", prefix); err != nil {
		return err
	}
	m.mu.Lock()
	var keys []string
	for k := range m.objs {
		if strings.HasPrefix(k, prefix) && k > startAfter {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	objs := make([]journal.Object, len(keys))
	for i, k := range keys {
		objs[i] = m.objs[k]
	}
	m.mu.Unlock()
	for _, o := range objs {
		if !fn(o) {
			return nil
		}
	}
	return nil
}

func (m *memJournal) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := m.call("Get", key); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.body[key]
	if !ok {
		return nil, journal.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memJournal) Put(ctx context.Context, key string, body []byte, ifAbsent bool) error {
	if err := m.call("Put", key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.body[key]; ok && ifAbsent {
		return journal.ErrExists
	}
	m.body[key] = slices.Clone(body)
	m.objs[key] = journal.Object{Key: key, LastModified: time.Now(), Size: int64(len(body))}
	return nil
}

func (m *memJournal) Delete(ctx context.Context, key string) error {
	if err := m.call("Delete", key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.body, key)
	delete(m.objs, key)
	return nil
}

func (m *memJournal) segments() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var s []string
	for k := range m.objs {
		if strings.Contains(k, "/journal/0/") {
			s = append(s, k)
		}
	}
	slices.Sort(s)
	return s
}

func newJournalHandler(t *testing.T, b *backuptest.Bucket, j *memJournal, logs *bytes.Buffer) *Handler {
	t.Helper()
	if logs == nil {
		logs = &bytes.Buffer{}
	}
	h, err := New(b, Config{Bucket: b.Name, Prefix: "backups", Layout: LayoutJournal, JournalLag: 90 * time.Second, Journal: j, Tool: "test"},
		slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// readJournal merges everything the journal of Orders holds: each object
// id's changes in the order they were made, duplicates dropped.
func readJournal(t *testing.T, j journal.Bucket) map[string][]journal.Record {
	t.Helper()
	ctx := context.Background()
	st, err := journal.LoadState(ctx, j, "backups/Orders/")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]journal.Record{}
	err = (&journal.Reader{Bucket: j}).MergeState(ctx, st, "", "", nil, &journal.ReadStats{}, func(g []journal.Record, _ time.Time) error {
		out[g[0].ID] = slices.Clone(g)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// journalHistory renders an item's changes as history does for versions:
// "put:<seq>" and "del".
func journalHistory(t *testing.T, recs map[string][]journal.Record, keyJSON string) string {
	t.Helper()
	id := objKey(t, keyJSON)
	id = id[strings.LastIndexByte(id, '/')+1:]
	var s []string
	for _, r := range recs[id] {
		if r.IsDelete() {
			s = append(s, "del")
		} else {
			s = append(s, "put:"+strings.TrimLeft(strings.TrimPrefix(r.Seq, "1111"), "0"))
		}
	}
	return strings.Join(s, " ")
}

// A batch is one segment: one PUT (after the descriptor on a cold start),
// no per-change request, and the changes read back in stream order with
// their keys, images, times and stream.
func TestJournalBatchIsOneSegment(t *testing.T) {
	b := backuptest.New("bkt")
	j := newMemJournal()
	var logs bytes.Buffer
	h := newJournalHandler(t, b, j, &logs)
	ev := loadEvent(t, "batch.json")
	resp, err := h.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%v %+v", err, resp.BatchItemFailures)
	}
	if len(b.Keys()) != 0 {
		t.Fatalf("the journal layout wrote item objects: %v", b.Keys())
	}
	if got := j.Calls; got["Put"] != 2 || got["Get"] != 1 || got["List"] != 1 {
		t.Fatalf("first batch's calls %v, want 1 GET (descriptor), 1 LIST (no per-item backup there) and 2 PUTs (descriptor, segment)", got)
	}
	d, err := journal.ReadDescriptor(context.Background(), j, "backups/Orders/")
	if err != nil || d.LagSeconds != 90 || d.Tool != "test" {
		t.Fatalf("descriptor %+v %v", d, err)
	}
	if segs := j.segments(); len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	// Warm: the next batch is one PUT and nothing else.
	clear(j.Calls)
	ev2 := loadEvent(t, "batch.json")
	for i := range ev2.Records {
		ev2.Records[i].Change.SequenceNumber = strings.Replace(ev2.Records[i].Change.SequenceNumber, "1111", "1112", 1)
	}
	if _, err := h.Handle(context.Background(), ev2); err != nil {
		t.Fatal(err)
	}
	if got := j.Calls; got["Put"] != 1 || len(got) != 1 {
		t.Fatalf("warm calls %v, want one PUT", got)
	}
	if !strings.Contains(logs.String(), `"msg":"batch stored"`) || !strings.Contains(logs.String(), `"records":8`) ||
		!strings.Contains(logs.String(), `"segment_keys":["backups/Orders/journal/0/`) || !strings.Contains(logs.String(), `"bytes":`) {
		t.Fatalf("log lines lack the batch's counts: %s", logs.String())
	}
	if strings.Contains(logs.String(), "Ada") || strings.Contains(logs.String(), "user#") {
		t.Fatalf("logs leak item contents: %s", logs.String())
	}

	recs := readJournal(t, j)
	wantJ := map[string]string{key1: "put:1 put:3 put:5 put:111200000000000000000001 put:111200000000000000000003 put:111200000000000000000005",
		key2: "put:2 del put:7 put:111200000000000000000002 del put:111200000000000000000007",
		key3: "put:4 del put:111200000000000000000004 del"}
	for k, w := range wantJ {
		if got := journalHistory(t, recs, k); got != w {
			t.Errorf("%s: changes %q, want %q", k, got, w)
		}
	}
	id := objKey(t, key1)
	first := recs[id[strings.LastIndexByte(id, '/')+1:]][0]
	if string(first.NewImage) != `{"balance":{"N":"12345678901234567890123456789012345678"},"blob":{"B":"AAECAwQ="},"name":{"S":"Ada"},"pk":{"S":"user#1"},"sk":{"N":"1"}}` ||
		string(first.Keys) != `{"pk":{"S":"user#1"},"sk":{"N":"1"}}` || first.TimeMs != 1717200000000 || first.Event != journal.EventInsert ||
		first.Stream != ev.Records[0].EventSourceARN || first.TTL {
		t.Errorf("first record %+v", first)
	}
}

// A delete made by TTL is marked as one; a caller's delete is not.
func TestJournalRecordsTTLDeletes(t *testing.T) {
	b := backuptest.New("bkt")
	j := newMemJournal()
	ev := loadEvent(t, "batch.json")
	var ttlSeq string
	for i := range ev.Records {
		if ev.Records[i].EventName == "REMOVE" {
			ev.Records[i].UserIdentity = &UserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}
			ttlSeq = ev.Records[i].Change.SequenceNumber
			break
		}
	}
	// Round-trip the JSON Lambda sends.
	raw, _ := json.Marshal(ev)
	var ev2 Event
	if err := json.Unmarshal(raw, &ev2); err != nil {
		t.Fatal(err)
	}
	if _, err := newJournalHandler(t, b, j, nil).Handle(context.Background(), ev2); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range readJournal(t, j) {
		for _, r := range g {
			if r.TTL != (r.Seq == ttlSeq) {
				t.Errorf("record %s: ttl %v", r.Seq, r.TTL)
			}
			n++
		}
	}
	if n != len(ev.Records) {
		t.Fatalf("%d records read, want %d", n, len(ev.Records))
	}
}

// A segment that cannot be stored fails the whole batch at its first
// record; the redelivered batch stores it, and redelivering it again (or
// from its middle) adds nothing a reader counts.
func TestJournalFailureAndRedelivery(t *testing.T) {
	b := backuptest.New("bkt")
	j := newMemJournal()
	h := newJournalHandler(t, b, j, nil)
	ev := loadEvent(t, "batch.json")
	j.Fail = func(op, key string) error {
		if op == "Put" && strings.Contains(key, "/journal/0/") {
			return backuptest.ErrInjected
		}
		return nil
	}
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "111100000000000000000001" {
		t.Fatalf("failures %+v, want the first record", resp.BatchItemFailures)
	}
	if segs := j.segments(); len(segs) != 0 {
		t.Fatalf("segments %v after a failed PUT", segs)
	}
	j.Fail = nil
	for _, redo := range []Event{ev, ev, {Records: ev.Records[3:]}} {
		resp, err := h.Handle(context.Background(), redo)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("redelivery: %v %+v", err, resp.BatchItemFailures)
		}
	}
	recs := readJournal(t, j)
	for k, w := range want {
		if got := journalHistory(t, recs, k); got != w {
			t.Errorf("%s: changes %q, want %q", k, got, w)
		}
	}
}

// The descriptor's failure fails the batch (a segment without it would not
// be read as a journal); a later batch tries again.
func TestJournalDescriptorFailure(t *testing.T) {
	b := backuptest.New("bkt")
	j := newMemJournal()
	h := newJournalHandler(t, b, j, nil)
	j.Fail = func(op, key string) error {
		if op == "Get" {
			return backuptest.ErrInjected
		}
		return nil
	}
	ev := loadEvent(t, "batch.json")
	resp, err := h.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "111100000000000000000001" {
		t.Fatalf("%v %+v", err, resp.BatchItemFailures)
	}
	if len(j.segments()) != 0 {
		t.Fatal("segment written without a descriptor")
	}
	j.Fail = nil
	if resp, err := h.Handle(context.Background(), ev); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%v %+v", err, resp.BatchItemFailures)
	}
	if _, err := journal.ReadDescriptor(context.Background(), j, "backups/Orders/"); err != nil {
		t.Fatal(err)
	}
}

// An undecodable record ends the segment: the records before it are
// stored, it is reported, and none after it is stored.
func TestJournalUndecodableRecord(t *testing.T) {
	b := backuptest.New("bkt")
	j := newMemJournal()
	ev := loadEvent(t, "batch.json")
	ev.Records[3].Change.NewImage = json.RawMessage(`{"x":{"N":"not a number"}}`)
	resp, err := newJournalHandler(t, b, j, nil).Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "111100000000000000000004" {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
	recs := readJournal(t, j)
	if got := journalHistory(t, recs, key1) + "|" + journalHistory(t, recs, key2) + "|" + journalHistory(t, recs, key3); got != "put:1 put:3|put:2|" {
		t.Fatalf("stored %q", got)
	}
}

// The journal layout keeps the per-item layout's refusals: an unversioned
// bucket, a stream without new images.
func TestJournalKeepsChecks(t *testing.T) {
	b := backuptest.New("bkt")
	b.Unversioned = true
	j := newMemJournal()
	if _, err := newJournalHandler(t, b, j, nil).Handle(context.Background(), loadEvent(t, "batch.json")); err == nil || !strings.Contains(err.Error(), "versioning") {
		t.Fatalf("unversioned: %v", err)
	}
	b.Unversioned = false
	if _, err := newJournalHandler(t, b, j, nil).Handle(context.Background(), loadEvent(t, "keys-only.json")); !errors.Is(err, ErrViewType) {
		t.Fatalf("keys only: %v", err)
	}
	if len(j.segments()) != 0 {
		t.Fatal("wrote a segment")
	}
}

func TestLayoutConfig(t *testing.T) {
	b := backuptest.New("bkt")
	log := slog.New(slog.DiscardHandler)
	if _, err := New(b, Config{Bucket: "bkt", Layout: "segments"}, log); err == nil || !strings.Contains(err.Error(), "DYNASNAP_LAYOUT") {
		t.Errorf("unknown layout: %v", err)
	}
	if _, err := New(b, Config{Bucket: "bkt", Layout: LayoutJournal, JournalLag: time.Millisecond, Journal: newMemJournal()}, log); err == nil {
		t.Error("a lag under a second accepted")
	}
	// backuptest.Bucket cannot GET or list: the journal needs a client that can.
	if _, err := New(b, Config{Bucket: "bkt", Layout: LayoutJournal}, log); err == nil {
		t.Error("a client without GetObject accepted")
	}
	h, err := New(b, Config{Bucket: "bkt", Layout: LayoutJournal, Journal: newMemJournal()}, log)
	if err != nil || h.cfg.JournalLag != journal.DefaultLag {
		t.Errorf("default lag: %v %v", err, h.cfg.JournalLag)
	}
	if h, err := New(b, Config{Bucket: "bkt"}, log); err != nil || h.cfg.Layout != LayoutItems {
		t.Errorf("default layout: %v", err)
	}
}

// DYNASNAP_LAYOUT=journal on a folder that holds a per-item backup (an
// upgraded deployment) goes on writing items there, with one warning: a
// journal would hide the history, and refusing would stop the backup.
func TestJournalLayoutOverItemsWritesItems(t *testing.T) {
	b := backuptest.New("bkt")
	j := newMemJournal()
	j.Put(context.Background(), "backups/Orders/"+strings.Repeat("0", 64), []byte(`{}`), false)
	var logs bytes.Buffer
	h := newJournalHandler(t, b, j, &logs)
	ev := loadEvent(t, "batch.json")
	for range 2 {
		resp, err := h.Handle(context.Background(), ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%v %+v", err, resp.BatchItemFailures)
		}
	}
	if len(b.Keys()) == 0 || len(j.segments()) != 0 {
		t.Fatalf("items %v, segments %v: want items only", b.Keys(), j.segments())
	}
	if n := strings.Count(logs.String(), "DYNASNAP_LAYOUT=journal, but"); n != 1 {
		t.Fatalf("%d warnings, want one per process:\n%s", n, logs.String())
	}
}
