package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/backuptest"
)

func loadEvent(t *testing.T, name string) Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "stream", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func newHandler(t *testing.T, b *backuptest.Bucket, logs *bytes.Buffer) *Handler {
	t.Helper()
	var w = logs
	if w == nil {
		w = &bytes.Buffer{}
	}
	h, err := New(b, Config{Bucket: b.Name, Prefix: "backups", Concurrency: 4, SkipApplied: true},
		slog.New(slog.NewJSONHandler(w, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// objKey is where the layout puts the item with these key attributes.
func objKey(t *testing.T, keyJSON string) string {
	t.Helper()
	k, err := item.Unmarshal([]byte(keyJSON))
	if err != nil {
		t.Fatal(err)
	}
	id, err := item.KeyID(k)
	if err != nil {
		t.Fatal(err)
	}
	return layout.TableLocation("bkt", "backups", "Orders").ObjectKey(id)
}

// history renders a key's versions as "put:<seq>" and "del".
func history(b *backuptest.Bucket, key string) string {
	var s []string
	for _, v := range b.Versions(key) {
		if v.DeleteMarker {
			s = append(s, "del")
		} else {
			s = append(s, "put:"+strings.TrimLeft(strings.TrimPrefix(v.Meta[backup.MetaSequenceNumber], "1111"), "0"))
		}
	}
	return strings.Join(s, " ")
}

var (
	key1 = `{"pk":{"S":"user#1"},"sk":{"N":"1"}}`
	key2 = `{"sk":{"N":"2"},"pk":{"S":"user#2"}}` // listed the other way round on purpose
	key3 = `{"pk":{"S":"user#3"},"sk":{"N":"3"}}`
	want = map[string]string{key1: "put:1 put:3 put:5", key2: "put:2 del put:7", key3: "put:4 del"}
)

func TestBatchInStreamOrder(t *testing.T) {
	b := backuptest.New("bkt")
	h := newHandler(t, b, nil)
	resp, err := h.Handle(context.Background(), loadEvent(t, "batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", resp.BatchItemFailures)
	}
	if n := len(b.Keys()); n != 3 {
		t.Fatalf("%d objects, want 3 (one per item whatever the key order)", n)
	}
	for k, h := range want {
		if got := history(b, objKey(t, k)); got != h {
			t.Errorf("%s: versions %q, want %q", k, got, h)
		}
	}
	// The body is the NewImage, exactly: 38-digit numbers, binaries.
	vs := b.Versions(objKey(t, key1))
	if got := string(vs[0].Body); got != `{"balance":{"N":"12345678901234567890123456789012345678"},"blob":{"B":"AAECAwQ="},"name":{"S":"Ada"},"pk":{"S":"user#1"},"sk":{"N":"1"}}` {
		t.Errorf("body %s", got)
	}
	if vs[0].ContentType != "application/json" || vs[0].Meta[backup.MetaCreationTime] != "2024-06-01T00:00:00Z" {
		t.Errorf("content type %q, metadata %v", vs[0].ContentType, vs[0].Meta)
	}
}

// S3 fails for one key: the response names the first record not applied,
// nothing of that key after it lands, and the replay Lambda then sends
// (from that record on) ends with exactly the clean run's versions.
func TestPartialFailureAndReplay(t *testing.T) {
	b := backuptest.New("bkt")
	bad := objKey(t, key2)
	b.Fail = func(op, key string) error {
		if key == bad && op == "PutObject" {
			return backuptest.ErrInjected
		}
		return nil
	}
	h := newHandler(t, b, nil)
	ev := loadEvent(t, "batch.json")
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "111100000000000000000002" {
		t.Fatalf("failures %+v, want the sequence number of record 2", resp.BatchItemFailures)
	}
	if got := history(b, bad); got != "" {
		t.Fatalf("failed key has versions %q", got)
	}
	b.Fail = nil
	replay := Event{Records: ev.Records[1:]}
	resp, err = h.Handle(context.Background(), replay)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("replay: %v %+v", err, resp.BatchItemFailures)
	}
	for k, h := range want {
		if got := history(b, objKey(t, k)); got != h {
			t.Errorf("%s after replay: versions %q, want %q", k, got, h)
		}
	}
	// A whole-batch retry (after a timeout, say) adds nothing either.
	if _, err := h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	for k, h := range want {
		if got := history(b, objKey(t, k)); got != h {
			t.Errorf("%s after a second replay: versions %q, want %q", k, got, h)
		}
	}
}

// A delete that fails stops its key's chain; the reported record is the
// earliest one not applied across all keys.
func TestFailureOnDeleteReportsEarliest(t *testing.T) {
	b := backuptest.New("bkt")
	b.Fail = func(op, key string) error {
		if op == "DeleteObject" {
			return backuptest.ErrInjected
		}
		return nil
	}
	resp, err := newHandler(t, b, nil).Handle(context.Background(), loadEvent(t, "batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "111100000000000000000006" {
		t.Fatalf("failures %+v, want record 6 (the first REMOVE)", resp.BatchItemFailures)
	}
	if got := history(b, objKey(t, key2)); got != "put:2" {
		t.Fatalf("key 2 versions %q: the INSERT after the failed REMOVE must wait", got)
	}
}

func TestViewTypeWithoutNewImageIsAnError(t *testing.T) {
	for _, name := range []string{"keys-only.json", "old-image.json"} {
		b := backuptest.New("bkt")
		_, err := newHandler(t, b, nil).Handle(context.Background(), loadEvent(t, name))
		if !errors.Is(err, ErrViewType) || !strings.Contains(err.Error(), "NEW_AND_OLD_IMAGES") {
			t.Errorf("%s: error %v, want one naming the fix", name, err)
		}
		if len(b.Keys()) != 0 {
			t.Errorf("%s: wrote %d objects", name, len(b.Keys()))
		}
	}
}

func TestUnversionedBucketRefused(t *testing.T) {
	b := backuptest.New("bkt")
	b.Unversioned = true
	_, err := newHandler(t, b, nil).Handle(context.Background(), loadEvent(t, "batch.json"))
	if err == nil || !strings.Contains(err.Error(), "versioning") {
		t.Fatalf("error %v", err)
	}
	if len(b.Keys()) != 0 {
		t.Fatal("wrote to an unversioned bucket")
	}
}

// A record that cannot be decoded is reported; the records before it are
// applied, none after it (Lambda redelivers them).
func TestUndecodableRecord(t *testing.T) {
	b := backuptest.New("bkt")
	ev := loadEvent(t, "batch.json")
	ev.Records[3].Change.NewImage = json.RawMessage(`{"x":{"N":"not a number"}}`)
	resp, err := newHandler(t, b, nil).Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "111100000000000000000004" {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
	if got := history(b, objKey(t, key1)); got != "put:1 put:3" {
		t.Fatalf("key 1 versions %q", got)
	}
}

func TestLogsHoldNoItemContents(t *testing.T) {
	var logs bytes.Buffer
	b := backuptest.New("bkt")
	if _, err := newHandler(t, b, &logs).Handle(context.Background(), loadEvent(t, "batch.json")); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "Ada") || strings.Contains(logs.String(), "user#") {
		t.Fatalf("logs leak item contents: %s", logs.String())
	}
	if !strings.Contains(logs.String(), `"puts":6`) || !strings.Contains(logs.String(), `"deletes":2`) {
		t.Fatalf("logs lack batch counts: %s", logs.String())
	}
}

func TestTableFromARN(t *testing.T) {
	got, err := TableFromARN("arn:aws:dynamodb:eu-west-1:123456789012:table/my.table-1/stream/2024-06-01T00:00:00.000")
	if err != nil || got != "my.table-1" {
		t.Fatalf("%q %v", got, err)
	}
	for _, bad := range []string{"", "nope", "arn:aws:dynamodb:eu-west-1:1:stream/x"} {
		if _, err := TableFromARN(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

const (
	streamJan = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026-01-01T00:00:00.000"
	streamJun = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026-06-01T00:00:00.000"
)

// orderRecord is an INSERT (or, with total "", a REMOVE) of order id from
// stream arn with sequence number seq.
func orderRecord(arn, seq, id, total string) Record {
	r := Record{EventID: seq, EventName: "INSERT", EventSource: "aws:dynamodb", EventSourceARN: arn, AWSRegion: "us-east-1",
		Change: StreamRecord{ApproximateCreationDateTime: "1767225600", Keys: json.RawMessage(`{"pk":{"S":"` + id + `"}}`),
			SequenceNumber: seq, StreamViewType: "NEW_AND_OLD_IMAGES"}}
	if total == "" {
		r.EventName = "REMOVE"
	} else {
		r.Change.NewImage = json.RawMessage(`{"pk":{"S":"` + id + `"},"total":{"N":"` + total + `"}}`)
	}
	return r
}

// versions renders a key's versions as "<total>@<stream month>" and "del".
func versions(b *backuptest.Bucket, key string) string {
	var s []string
	for _, v := range b.Versions(key) {
		if v.DeleteMarker {
			s = append(s, "del")
			continue
		}
		it, _ := item.Unmarshal(v.Body)
		total, _ := item.MarshalValue(it["total"])
		arn := v.Meta[backup.MetaStreamARN]
		if arn != "" {
			arn = arn[len(arn)-len("01T00:00:00.000")-3:][:2]
		}
		s = append(s, string(total)+"@"+arn)
	}
	return strings.Join(s, " ")
}

func handle(t *testing.T, h *Handler, recs ...Record) {
	t.Helper()
	resp, err := h.Handle(context.Background(), Event{Records: recs})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle: %v %+v", err, resp.BatchItemFailures)
	}
}

// batchLog is the last "batch applied" line.
func batchLog(t *testing.T, logs *bytes.Buffer) map[string]any {
	t.Helper()
	var last map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "batch applied" {
			last = m
		}
	}
	if last == nil {
		t.Fatalf("no batch line in %s", logs.String())
	}
	return last
}

// The case: a table re-created under the same name starts a new
// stream whose sequence numbers are below the old one's. Its change is
// written, not skipped; the version records the stream it came from.
func TestNewStreamWithLowerSequenceNumberIsWritten(t *testing.T) {
	b := backuptest.New("bkt")
	var logs bytes.Buffer
	h := newHandler(t, b, &logs)
	key := objKey(t, `{"pk":{"S":"order#1"}}`)
	handle(t, h, orderRecord(streamJan, "900000000000000000000001", "order#1", "1"))
	handle(t, h, orderRecord(streamJun, "100000000000000000000001", "order#1", "2"))
	if got := versions(b, key); got != `{"N":"1"}@01 {"N":"2"}@06` {
		t.Fatalf("versions %s, want the new stream's image on top", got)
	}
	if vs := b.Versions(key); vs[1].Meta[backup.MetaStreamARN] != streamJun || vs[1].Meta[backup.MetaSequenceNumber] != "100000000000000000000001" {
		t.Errorf("metadata %v", vs[1].Meta)
	}
	if m := batchLog(t, &logs); m["skipped"] != 0.0 || m["puts"] != 1.0 {
		t.Errorf("batch line %v", m)
	}
	if strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Errorf("a newer stream is the normal case, no warning: %s", logs.String())
	}
	// Lambda's retries on the new stream still add nothing.
	handle(t, h, orderRecord(streamJun, "100000000000000000000001", "order#1", "2"))
	if got := versions(b, key); got != `{"N":"1"}@01 {"N":"2"}@06` {
		t.Fatalf("after a retry: versions %s", got)
	}
	if m := batchLog(t, &logs); m["skipped_same_stream"] != 1.0 || m["skipped"] != 1.0 {
		t.Errorf("batch line %v", m)
	}
}

// A change from an older stream than the current version's is written too,
// with a warning naming both streams; so is one whose label is not a time.
func TestOlderOrUnknownStreamWrittenWithWarning(t *testing.T) {
	for _, tc := range []struct{ name, arn, msg string }{
		{"older", streamJan, "from an older stream"},
		{"unparseable", "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/latest", "cannot be ordered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := backuptest.New("bkt")
			var logs bytes.Buffer
			h := newHandler(t, b, &logs)
			key := objKey(t, `{"pk":{"S":"order#1"}}`)
			handle(t, h, orderRecord(streamJun, "100000000000000000000005", "order#1", "1"))
			handle(t, h, orderRecord(tc.arn, "100000000000000000000001", "order#1", "2"))
			if n := len(b.Versions(key)); n != 2 {
				t.Fatalf("%d versions, want 2: %s", n, versions(b, key))
			}
			var warn map[string]any
			for _, l := range strings.Split(logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["level"] == "WARN" {
					warn = m
				}
			}
			if warn == nil || !strings.Contains(warn["msg"].(string), tc.msg) ||
				warn["stream_arn"] != tc.arn || warn["current_stream_arn"] != streamJun || warn["object"] != key {
				t.Fatalf("warning %v in %s", warn, logs.String())
			}
			if m := batchLog(t, &logs); m["older_stream_writes"] != 1.0 {
				t.Errorf("batch line %v", m)
			}
		})
	}
}

// Versions with no stream recorded (backfill, an older writer that kept only
// the sequence number, another tool) never make a change skipped by its
// sequence number.
func TestVersionWithoutStreamNeverSkips(t *testing.T) {
	b := backuptest.New("bkt")
	h := newHandler(t, b, nil)
	k, _ := item.Unmarshal([]byte(`{"pk":{"S":"order#1"}}`))
	img, _ := item.Unmarshal([]byte(`{"pk":{"S":"order#1"},"total":{"N":"0"}}`))
	w := backup.New(b, "bkt", "backups", "Orders")
	// An older writer: a sequence number above the change's, no stream.
	if _, err := w.Put(context.Background(), k, img, backup.Meta{SequenceNumber: "999999999999999999999999", Source: "stream"}, backup.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	// Backfill: neither.
	if _, err := w.Put(context.Background(), k, img, backup.Meta{Source: "backfill"}, backup.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	handle(t, h, orderRecord(streamJun, "100000000000000000000001", "order#1", "2"))
	if got := versions(b, objKey(t, `{"pk":{"S":"order#1"}}`)); got != `{"N":"0"}@ {"N":"0"}@ {"N":"2"}@06` {
		t.Fatalf("versions %s", got)
	}
}

// The batch line counts skips by reason; each skip by sequence number is an
// INFO line naming the object (never the item).
func TestSkipsCountedByReason(t *testing.T) {
	b := backuptest.New("bkt")
	var logs bytes.Buffer
	h := newHandler(t, b, &logs)
	ev := loadEvent(t, "batch.json")
	handle(t, h, ev.Records...)
	logs.Reset()
	handle(t, h, ev.Records...)
	for k, h := range want {
		if got := history(b, objKey(t, k)); got != h {
			t.Errorf("%s after a whole-batch retry: versions %q, want %q", k, got, h)
		}
	}
	// 6 puts are at or before their key's newest image; key 3's REMOVE
	// finds its delete marker (key 2's REMOVE precedes its newest image).
	m := batchLog(t, &logs)
	if m["skipped"] != 8.0 || m["skipped_same_stream"] != 7.0 || m["skipped_delete_applied"] != 1.0 || m["puts"] != 0.0 {
		t.Fatalf("batch line %v", m)
	}
	n := 0
	for _, l := range strings.Split(logs.String(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(l), &e) != nil || e["level"] != "INFO" || !strings.HasPrefix(e["msg"].(string), "change skipped") {
			continue
		}
		n++
		if o, _ := e["object"].(string); !strings.HasPrefix(o, "backups/Orders/") || e["sequence_number"] == nil || e["stream_arn"] == nil {
			t.Errorf("skip line %s", l)
		}
	}
	if n != 7 {
		t.Errorf("%d INFO skip lines, want 7:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "Ada") || strings.Contains(logs.String(), "user#") {
		t.Fatalf("logs leak item contents: %s", logs.String())
	}
}

func TestStreamLabelTime(t *testing.T) {
	got, err := StreamLabelTime(streamJun)
	if err != nil || !got.Equal(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := StreamLabelTime("arn:aws:dynamodb:us-east-1:1:table/T/stream/2015-05-11T21:21:33.291"); err != nil || got.Nanosecond() != 291e6 {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "arn:aws:dynamodb:us-east-1:1:table/T", "arn:aws:dynamodb:us-east-1:1:table/T/stream/x", "arn:aws:dynamodb:us-east-1:1:table/T/stream/2026-06-01T00:00:00.000/x"} {
		if _, err := StreamLabelTime(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if o := streamOrder(streamJan, streamJun); o != newerStream {
		t.Errorf("Jan then Jun: %v", o)
	}
	if o := streamOrder(streamJun, streamJan); o != olderStream {
		t.Errorf("Jun then Jan: %v", o)
	}
	if o := streamOrder(streamJun, strings.Replace(streamJun, "us-east-1", "eu-west-1", 1)); o != unknownOrder {
		t.Errorf("same label, other ARN: %v", o)
	}
	if o := streamOrder("", streamJan); o != sameOrNone {
		t.Errorf("no stream recorded: %v", o)
	}
}

// TestTTLDeleteTombstone: a REMOVE made by TTL is a tombstone (a copy of
// the last image, marked expired, keeping that image's sequence number)
// and then the delete marker; an application REMOVE is a marker alone. A
// redelivery adds nothing; one after a crash between the tombstone and the
// marker writes the marker (the tombstone's sequence number is the last
// image's, below the REMOVE's).
func TestTTLDeleteTombstone(t *testing.T) {
	b := backuptest.New("bkt")
	var logs bytes.Buffer
	h := newHandler(t, b, &logs)
	const arn = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026-01-01T00:00:00.000"
	ttl := func(r Record) Record {
		r.UserIdentity = &UserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}
		return r
	}
	handle(t, h, orderRecord(arn, "101", "a", "1"), orderRecord(arn, "102", "b", "2"))
	handle(t, h, ttl(orderRecord(arn, "103", "a", "")), orderRecord(arn, "104", "b", ""))
	if m := batchLog(t, &logs); m["expired"] != float64(1) || m["deletes"] != float64(2) {
		t.Errorf("batch log %v", m)
	}
	ka, kb := objKey(t, `{"pk":{"S":"a"}}`), objKey(t, `{"pk":{"S":"b"}}`)
	if got := history(b, ka); got != "put:101 put:101 del" {
		t.Fatalf("TTL delete: %s", got)
	}
	if got := history(b, kb); got != "put:102 del" {
		t.Fatalf("application delete: %s", got)
	}
	vs := b.Versions(ka)
	if vs[1].Meta[backup.MetaExpired] == "" || vs[1].Meta[backup.MetaExpiredSequenceNumber] != "103" || !bytes.Equal(vs[1].Body, vs[0].Body) {
		t.Errorf("tombstone %+v", vs[1])
	}
	handle(t, h, ttl(orderRecord(arn, "103", "a", "")))
	if got := history(b, ka); got != "put:101 put:101 del" {
		t.Fatalf("redelivered: %s", got)
	}

	// A crash after the tombstone: its marker never written.
	b.Fail = func(op, key string) error {
		if op == "DeleteObject" {
			return backuptest.ErrInjected
		}
		return nil
	}
	handle(t, h, orderRecord(arn, "105", "c", "5"))
	if resp, _ := h.Handle(context.Background(), Event{Records: []Record{ttl(orderRecord(arn, "106", "c", ""))}}); len(resp.BatchItemFailures) != 1 {
		t.Fatalf("the failed marker was not reported: %+v", resp)
	}
	b.Fail = nil
	handle(t, h, ttl(orderRecord(arn, "106", "c", "")))
	if got := history(b, objKey(t, `{"pk":{"S":"c"}}`)); got != "put:105 put:105 put:105 del" {
		t.Fatalf("redelivered after a crash: %s", got)
	}
}
