package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/klauspost/compress/gzip"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestJournalBaseExportCLI: compact stores a base also as a snapshot's
// files (docs/DESIGN.md §10.6), and a snapshot at the base's time copies
// them: its data files and sidecars hold, line for line, what the
// snapshot that reads the base writes (every attribute type; aws:rep:*
// attributes left out), with the same counts and billed size. A damaged
// file is read around, with a warning; an item a snapshot would not copy
// as stored is copied as that snapshot writes it; one it refuses leaves
// the base without export files, as --export-bases=false does.
func TestJournalBaseExportCLI(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "backups", "jx")
	b := &journal.S3Bucket{Client: c.S3(), Bucket: bucket}
	writeJournal(t, b, src.Dir(), 300, 2)

	// Every attribute type, and an item of a legacy global table.
	var bodies []string
	for name, it := range testenv.Items(t) {
		it["pk"] = &ddbtypes.AttributeValueMemberS{Value: "x-" + name}
		body, err := item.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(body))
	}
	bodies = append(bodies, `{"aws:rep:deleting":{"BOOL":false},"aws:rep:updateregion":{"S":"us-east-1"},"pk":{"S":"rep"},"v":{"N":"1"}}`)
	last := writeBodies(t, b, src.Dir(), bodies, 1_000_000)

	compact := func(extra ...string) time.Time {
		t.Helper()
		rep := compactJSON(t, append([]string{"--source", src.String(), "--intervals", "1s,1m", "--base-every", "1s", "--delete-delay", "0s"}, extra...)...)
		for _, o := range rep.Outputs {
			if o.Kind == "base" && o.Finished {
				return o.To
			}
		}
		t.Fatalf("compact wrote no base: %+v", rep.Outputs)
		return time.Time{}
	}
	waitCovered := func(last time.Time) {
		time.Sleep(time.Until(last.Add(journalTestLag + 2500*time.Millisecond)))
	}
	waitCovered(last)
	at := compact()
	m := readBaseManifest(t, b, src.Dir(), at)
	if m.ExportDir != src.Dir() || len(m.Files) == 0 {
		t.Fatalf("base at %s: exportDir %q, %d files; want %q", at, m.ExportDir, len(m.Files), src.Dir())
	}
	for _, p := range m.Files {
		if p.Export == nil || p.Export.Items != p.Records {
			t.Fatalf("base part %s: export %+v, %d records", p.Name, p.Export, p.Records)
		}
	}

	copied := snapshotAt(t, src, at, "copy")
	read := snapshotAt(t, src, at, "read", "--file-size", "300MiB")
	if copied.sum.Dynasnap.CopiedFrom == "" || read.sum.Dynasnap.CopiedFrom != "" {
		t.Fatalf("copiedFrom: %q by default, %q with --file-size", copied.sum.Dynasnap.CopiedFrom, read.sum.Dynasnap.CopiedFrom)
	}
	sameSnapshot(t, copied, read)
	if strings.Contains(copied.data, "aws:rep:") || !strings.Contains(copied.data, `"pk":{"S":"rep"}`) {
		t.Fatal("the copied snapshot keeps aws:rep:* attributes, or lost the item")
	}

	// A damaged export file: the snapshot reads the base instead, and says so.
	e := m.Files[0].Export
	folder := src.Dir() + "journal/base/" + at.UTC().Format("20060102T150405.000Z") + "/"
	if err := b.Put(ctx, folder+e.Data, []byte("not what the manifest says"), false); err != nil {
		t.Fatal(err)
	}
	damaged := snapshotAt(t, src, at, "damaged")
	if damaged.sum.Dynasnap.CopiedFrom != "" || !strings.Contains(damaged.stderr, "damaged") {
		t.Fatalf("damaged export: copiedFrom %q, stderr %s", damaged.sum.Dynasnap.CopiedFrom, damaged.stderr)
	}
	sameSnapshot(t, damaged, read)

	// An item that is not canonical JSON is copied canonical, as the
	// snapshot that reads it writes it.
	last = writeBodies(t, b, src.Dir(), []string{`{"pk": {"S":"spaced"}, "v":{"N":"01.50"}}`}, 2_000_000)
	waitCovered(last)
	at2 := compact()
	copied = snapshotAt(t, src, at2, "noncanonical")
	if copied.sum.Dynasnap.CopiedFrom == "" || !strings.Contains(copied.data, `{"Item":{"pk":{"S":"spaced"},`) {
		t.Fatalf("snapshot at %s: copiedFrom %q, or the item not canonical", at2, copied.sum.Dynasnap.CopiedFrom)
	}
	sameSnapshot(t, copied, snapshotAt(t, src, at2, "noncanonical-read", "--file-size", "300MiB"))

	// --export-bases=false: none.
	last = writeBodies(t, b, src.Dir(), []string{`{"pk":{"S":"later"}}`}, 3_000_000)
	waitCovered(last)
	at3 := compact("--export-bases=false")
	if m := readBaseManifest(t, b, src.Dir(), at3); m.ExportDir != "" || m.Files[0].Export != nil {
		t.Fatalf("--export-bases=false: exportDir %q, export %+v", m.ExportDir, m.Files[0].Export)
	}

	// An image without its key, which a snapshot refuses: the base has
	// no export files, so the snapshot at its time reads it and refuses
	// it too, as it would without them.
	keys := []byte(`{"pk":{"S":"keyless"}}`)
	k, _ := item.Unmarshal(keys)
	id, _ := item.KeyID(k, "pk")
	now := time.Now()
	bad := journal.Record{ID: id, TimeMs: now.UnixMilli(), Seq: "4000000", Stream: testStream, Event: journal.EventModify, Keys: keys, NewImage: []byte(`{"v":{"N":"1"}}`)}
	if _, err := journal.WriteSegment(ctx, b, src.Dir(), []journal.Record{bad}, now); err != nil {
		t.Fatal(err)
	}
	waitCovered(time.Now())
	at4 := compact()
	if m := readBaseManifest(t, b, src.Dir(), at4); m.ExportDir != "" || m.Files[0].Export != nil {
		t.Fatalf("base with a keyless image: exportDir %q, export %+v", m.ExportDir, m.Files[0].Export)
	}
	_, stderr, code := cli("snapshot", "--source", src.String(), "--at", at4.UTC().Format(time.RFC3339), "--out", filepath.Join(t.TempDir(), "bad"))
	if code == 0 || !strings.Contains(stderr, id) {
		t.Fatalf("snapshot of a base holding a keyless image: exit %d: %s", code, stderr)
	}
}

// writeBodies writes one segment of MODIFY records of bodies (keyed by
// their pk) at the current second, sequence numbers from seq, and returns
// when it was stored.
func writeBodies(t *testing.T, b journal.Bucket, dir string, bodies []string, seq int64) time.Time {
	t.Helper()
	now := time.Now()
	var recs []journal.Record
	for i, body := range bodies {
		it, err := item.Unmarshal([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := item.Marshal(item.Item{"pk": it["pk"]})
		id, err := item.KeyID(it, "pk")
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, journal.Record{ID: id, TimeMs: now.UnixMilli(), Seq: fmt.Sprint(seq + int64(i)), Stream: testStream,
			Event: journal.EventModify, Keys: keys, NewImage: []byte(body)})
	}
	if _, err := journal.WriteSegment(context.Background(), b, dir, recs, now); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

func readBaseManifest(t *testing.T, b journal.Bucket, dir string, at time.Time) journal.Manifest {
	t.Helper()
	rc, err := b.Get(context.Background(), dir+"journal/base/"+at.UTC().Format("20060102T150405.000Z")+"/"+journal.ManifestName)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var m journal.Manifest
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// localSnapshot is a snapshot's summary and its files' lines, in order.
type localSnapshot struct {
	sum           snapshot.Summary
	data, sidecar string
	stderr        string
}

func snapshotAt(t *testing.T, src layout.Location, at time.Time, name string, extra ...string) localSnapshot {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"snapshot", "--source", src.String(), "--at", at.UTC().Format(time.RFC3339), "--out", out}, extra...)
	_, stderr, code := cli(args...)
	if code != 0 {
		t.Fatalf("snapshot %s: exit %d: %s", name, code, stderr)
	}
	s := localSnapshot{stderr: stderr}
	raw, err := os.ReadFile(filepath.Join(out, "manifest-summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &s.sum); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadFile(filepath.Join(out, "manifest-files.json"))
	if err != nil {
		t.Fatal(err)
	}
	var data, side bytes.Buffer
	for _, line := range strings.Split(strings.TrimSpace(string(files)), "\n") {
		var f snapshot.FileEntry
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		gunzipInto(t, filepath.Join(out, f.DataFileS3Key), &data)
		gunzipInto(t, filepath.Join(out, f.SidecarS3Key), &side)
	}
	s.data, s.sidecar = data.String(), side.String()
	return s
}

func gunzipInto(t *testing.T, path string, w *bytes.Buffer) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if _, err := w.ReadFrom(z); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func sameSnapshot(t *testing.T, got, want localSnapshot) {
	t.Helper()
	if got.data != want.data || got.sidecar != want.sidecar {
		t.Fatalf("data files or sidecars differ: %d and %d bytes of lines, want %d and %d", len(got.data), len(got.sidecar), len(want.data), len(want.sidecar))
	}
	if got.sum.ItemCount != want.sum.ItemCount || got.sum.BilledSizeBytes != want.sum.BilledSizeBytes || got.sum.ItemCount == 0 {
		t.Fatalf("itemCount %d, billedSizeBytes %d; want %d, %d", got.sum.ItemCount, got.sum.BilledSizeBytes, want.sum.ItemCount, want.sum.BilledSizeBytes)
	}
}
