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
