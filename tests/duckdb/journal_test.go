package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/parquetfmt"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

const journalStream = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000"

// TestDuckDBReadsJournal: a compacted journal (a backfill's base and a
// level file, each several gzip members with a key index) is read by
// DuckDB as it is stored, through the statements athena-ddl prints for a
// journal: every change of one key equals `history`, and the table at a
// time (the query athena-ddl prints as a comment) equals `snapshot`.
func TestDuckDBReadsJournal(t *testing.T) {
	c := testenv.Clients(t)
	cl := c.S3()
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "bk", "orders")
	dir := src.Dir()
	b := &journal.S3Bucket{Client: cl, Bucket: bucket}
	const lag = time.Second
	if err := journal.EnsureDescriptor(ctx, b, dir, lag, "test"); err != nil {
		t.Fatal(err)
	}
	const items = 3000
	rec := func(k int, at time.Time, seq int64, del bool, body string) journal.Record {
		keys := fmt.Sprintf(`{"pk":{"S":"order#%d"}}`, k)
		it, _ := item.Unmarshal([]byte(keys))
		id, err := item.KeyID(it, "pk")
		if err != nil {
			t.Fatal(err)
		}
		r := journal.Record{ID: id, TimeMs: at.UnixMilli(), Keys: []byte(keys), Event: journal.EventBackfill, NewImage: []byte(body)}
		if seq > 0 {
			r.Seq, r.Stream, r.Event = fmt.Sprint(seq), journalStream, journal.EventModify
			if del {
				r.Event, r.NewImage = journal.EventRemove, nil
			}
		}
		return r
	}
	baseAt := time.Now().Truncate(time.Second).Add(-2 * time.Second)
	var base []journal.Record
	for k := range items {
		base = append(base, rec(k, baseAt, 0, false, fmt.Sprintf(`{"pk":{"S":"order#%d"},"qty":{"N":"%d"},"note":{"S":"backfilled %s"}}`, k, k, strings.Repeat("x", 40))))
	}
	if err := journal.WriteBaseRun(ctx, b, dir, baseAt, base); err != nil {
		t.Fatal(err)
	}
	if _, err := journal.FinishBase(ctx, b, dir, baseAt, baseAt, "test", 0); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(25, 2))
	seq := int64(500)
	var times []time.Time
	for range 3 {
		now := time.Now()
		time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
		sec := time.Now().Truncate(time.Second)
		var recs []journal.Record
		for i := range 1200 {
			k := rng.IntN(items)
			if i%100 == 0 {
				k = 123
			}
			seq += 1 + rng.Int64N(3)
			del := i%100 != 0 && rng.IntN(6) == 0
			recs = append(recs, rec(k, sec, seq, del, fmt.Sprintf(`{"pk":{"S":"order#%d"},"qty":{"N":"%d"},"tags":{"SS":["a","b"]},"addr":{"M":{"city":{"S":"c%d"}}}}`, k, rng.IntN(1e6), i)))
		}
		for lo := 0; lo < len(recs); lo += 400 {
			if _, err := journal.WriteSegment(ctx, b, dir, recs[lo:lo+400], time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		times = append(times, sec)
	}
	time.Sleep(time.Until(times[len(times)-1].Add(lag + 4500*time.Millisecond)))
	comp := &journal.Compactor{Bucket: b, Dir: dir, Intervals: []time.Duration{time.Second}, Skew: time.Second, Tool: "test"}
	if _, err := comp.Run(ctx); err != nil {
		t.Fatal(err)
	}

	// The journal's data files, copied as they are stored (segments were
	// deleted by the compaction: every change is in the level file).
	local := t.TempDir()
	var keys []string
	if err := b.List(ctx, dir+journal.Folder, "", func(o journal.Object) bool { keys = append(keys, o.Key); return true }); err != nil {
		t.Fatal(err)
	}
	indexed := 0
	for _, k := range keys {
		rc, err := b.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		if strings.HasSuffix(k, "/manifest.json") {
			var m journal.Manifest
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			for _, p := range m.Files {
				if len(p.Blocks) > 1 {
					indexed++
				}
			}
		}
		if strings.Contains(k, "/journal/0/") {
			t.Fatalf("segment %s left after compaction", k)
		}
		path := filepath.Join(local, strings.TrimPrefix(k, dir))
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if indexed < 2 {
		t.Fatalf("want the base and the level file in several gzip members each; %d parts are", indexed)
	}

	// The statements athena-ddl prints: the files table's columns for
	// DuckDB's JSON reader, and the view as it is.
	ddl := parquetfmt.JournalDDL("orders", "s3://"+bucket+"/"+dir+journal.Folder, "test", int64(lag/time.Second))
	stmts := strings.SplitN(ddl, ";\n", 3)
	if len(stmts) != 3 || !strings.HasPrefix(stmts[0], "CREATE EXTERNAL TABLE IF NOT EXISTS `orders_files`") ||
		!strings.Contains(stmts[0], "LOCATION 's3://"+bucket+"/bk/orders/journal/'") || !strings.Contains(stmts[1], `CREATE OR REPLACE VIEW "orders" AS`) {
		t.Fatalf("athena-ddl for a journal:\n%s", ddl)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	exec(fmt.Sprintf(`CREATE VIEW "orders_files" AS SELECT * FROM read_json('%s/journal/**/*.jsonl.gz', format='newline_delimited', columns=%s)`, local, duckColumns(t, stmts[0]+";\n")))
	exec(stmts[1])

	// Every change of order#123, oldest first, as history lists it.
	hs := s3source.New(cl, bucket)
	k123, _ := item.Unmarshal([]byte(`{"pk":{"S":"order#123"}}`))
	id123, _ := item.KeyID(k123, "pk")
	changes, err := history.ItemChanges(ctx, hs, src.ObjectKey(id123))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT event, to_json(newimage)::VARCHAR FROM "orders" WHERE keys['pk'].s = 'order#123'
		ORDER BY CASE WHEN event = 'BACKFILL' THEN 0 ELSE 1 END, timems, length(seq), seq`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var ev string
		var img sql.NullString
		if err := rows.Scan(&ev, &img); err != nil {
			t.Fatal(err)
		}
		if ev == journal.EventRemove {
			got = append(got, "REMOVE")
		} else {
			got = append(got, image(t, json.RawMessage(img.String)))
		}
	}
	rows.Close()
	var want []string
	for i := len(changes) - 1; i >= 0; i-- {
		if changes[i].Event == history.Remove {
			want = append(want, "REMOVE")
		} else {
			want = append(want, canonical(t, string(changes[i].Image)))
		}
	}
	if len(want) < 4 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("every change of order#123: DuckDB\n%s\nhistory\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The table at T: the query printed as a comment, run as it is.
	var q []string
	on := false
	for _, l := range strings.Split(stmts[2], "\n") {
		if strings.HasPrefix(l, "-- The table at time T") {
			on = true
			continue
		}
		if on && strings.HasPrefix(l, "--   ") {
			q = append(q, strings.TrimPrefix(l, "--   "))
		}
	}
	atQuery := strings.TrimSuffix(strings.Join(q, "\n"), ";")
	for _, at := range append([]time.Time{baseAt}, times...) {
		snap := filepath.Join(t.TempDir(), "snap")
		if _, err := snapshot.Run(ctx, s3source.New(cl, bucket), store.NewLocal(snap), snapshot.Options{Source: src, At: at}); err != nil {
			t.Fatal(err)
		}
		s, err := snapshot.Open(ctx, store.NewLocal(snap))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		if err := s.EachItem(ctx, func(l snapshot.Line) error { want = append(want, canonical(t, string(l.Item))); return nil }); err != nil {
			t.Fatal(err)
		}
		rows, err := db.Query(`SELECT to_json(newimage)::VARCHAR FROM (` + strings.ReplaceAll(atQuery, "<= T)", fmt.Sprintf("<= %d)", at.UnixMilli())) + `)`)
		if err != nil {
			t.Fatalf("%v\n%s", err, atQuery)
		}
		var got []string
		for rows.Next() {
			var img string
			if err := rows.Scan(&img); err != nil {
				t.Fatal(err)
			}
			got = append(got, image(t, json.RawMessage(img)))
		}
		rows.Close()
		sort.Strings(want)
		sort.Strings(got)
		if len(want) < items/2 || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("the table at %s: DuckDB %d items, snapshot %d", at, len(got), len(want))
		}
	}
}
