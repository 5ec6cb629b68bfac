package snapshot_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/parquetfmt"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// typedItems are items of an orders-like table: every scalar kind, sets,
// lists, maps, an attribute of mixed types and numbers a double would round.
func typedItems(n int) []item.Item {
	out := make([]item.Item, n)
	for i := range out {
		mixed := fmt.Sprintf(`{"S":"v%d"}`, i)
		if i%3 == 0 {
			mixed = fmt.Sprintf(`{"N":"%d"}`, i)
		}
		out[i] = must(item.Unmarshal(fmt.Appendf(nil, `{"pk":{"S":"tenant#%d"},"sk":{"N":"%d"},
			"price":{"N":"%d.%02d"},"qty":{"N":"%d"},"big":{"N":"1234567890123456789012345678901234567%d"},
			"paid":{"BOOL":%t},"blob":{"B":"AAEC"},"tags":{"SS":["a","t%d"]},"scores":{"NS":["-1","%d"]},
			"lines":{"L":[{"S":"x"},{"S":"y%d"}]},"addr":{"M":{"city":{"S":"Köln"},"zip":{"N":"50667"}}},
			"mixed":%s,"note":{"NULL":true}}`, i%7, i, i*3, i%100, i%5, i%10, i%2 == 0, i, i, i, mixed)))
	}
	return out
}

func readLines(t *testing.T, dir string) []snapshot.Line {
	t.Helper()
	s, err := snapshot.Open(context.Background(), store.NewLocal(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []snapshot.Line
	if err := s.EachItem(context.Background(), func(l snapshot.Line) error { out = append(out, l); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameLines(t *testing.T, what string, got, want []snapshot.Line) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d items, want %d", what, len(got), len(want))
	}
	for i := range want {
		if string(got[i].Item) != string(want[i].Item) || got[i].Source != want[i].Source {
			t.Fatalf("%s: item %d differs:\n got %s %+v\nwant %s %+v", what, i, got[i].Item, got[i].Source, want[i].Item, want[i].Source)
		}
	}
}

// A Parquet snapshot reads back through the snapshot reader as exactly the
// JSON-lines snapshot of the same time: every item byte for byte, in the
// same order, with the same sources; split into parts, joined into one
// file, and as the base of an incremental run.
func TestParquetSnapshotReadsAsJSONLines(t *testing.T) {
	c := testenv.Clients(t)
	cl := c.S3()
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "bk", "orders")
	putMany(t, cl, src, typedItems(300), "pk", "sk")
	for _, it := range testenv.Items(t) { // every attribute type, other keys
		for _, k := range []string{"pk", "id"} {
			if _, ok := it[k]; ok {
				if k == "pk" {
					it["sk"] = must(item.UnmarshalValue([]byte(`{"N":"-1"}`)))
				}
				keys := []string{k}
				if k == "pk" {
					keys = append(keys, "sk")
				}
				put(t, cl, src, it, keys...)
				break
			}
		}
	}
	at := time.Now().Add(time.Second).Truncate(time.Second)
	time.Sleep(time.Until(at))

	root := t.TempDir()
	jsonl := filepath.Join(root, "jsonl")
	if _, err := snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(jsonl), snapshot.Options{Source: src, At: at}); err != nil {
		t.Fatal(err)
	}
	want := readLines(t, jsonl)

	misses := &atomic.Int64{}
	pq := filepath.Join(root, "parquet")
	res, err := snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(pq), snapshot.Options{Source: src, At: at, Format: snapshot.FormatParquet,
		Compression: "zstd", FileSize: 16 << 10, Parquet: snapshot.ParquetOptions{InferSample: 50, RowGroupBytes: 8 << 10, Misses: misses}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.OutputFormat != "PARQUET" || res.DataFiles < 2 {
		t.Fatalf("summary %s, %d data files", res.Summary.OutputFormat, res.DataFiles)
	}
	sameLines(t, "parquet", readLines(t, pq), want)
	parts, _ := filepath.Glob(filepath.Join(pq, "data", "part-*.parquet"))
	sides, _ := filepath.Glob(filepath.Join(pq, "sidecar", "part-*.json.zst"))
	if len(parts) != res.DataFiles || len(sides) != res.DataFiles {
		t.Errorf("%d parquet parts, %d sidecars, want %d each", len(parts), len(sides), res.DataFiles)
	}
	raw, err := os.ReadFile(filepath.Join(pq, snapshot.SchemaName))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := parquetfmt.ParseSchema(raw)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, a := range ts.Attributes {
		types[a.Name] = a.Type
	}
	for name, typ := range map[string]string{"pk": "string", "sk": "bigint", "price": "decimal(38,2)", "qty": "bigint",
		"big": "decimal(38,0)", "paid": "boolean", "blob": "binary", "tags": "array<string>", "scores": "array<bigint>",
		"lines": "array<string>", "addr": "json", "mixed": "string"} {
		if types[name] != typ {
			t.Errorf("inferred %s: %q, want %q", name, types[name], typ)
		}
	}
	if _, ok := types["note"]; ok {
		t.Errorf("an attribute only ever NULL got a column")
	}

	// --single-file merges the parts by row group. A declared type that
	// most prices do not fit leaves them NULL in that column, counted, and
	// the items whole.
	declared := *ts
	declared.Attributes = append([]parquetfmt.Attribute(nil), ts.Attributes...)
	for i := range declared.Attributes {
		if declared.Attributes[i].Name == "price" {
			declared.Attributes[i].Type = "bigint"
		}
	}
	one := filepath.Join(root, "single")
	res, err = snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(one), snapshot.Options{Source: src, At: at, Format: snapshot.FormatParquet,
		Compression: "zstd", SingleFile: true, Parquet: snapshot.ParquetOptions{Schema: &declared, RowGroupBytes: 8 << 10, Misses: misses}})
	if err != nil {
		t.Fatal(err)
	}
	if misses.Load() < 250 {
		t.Errorf("%d prices counted as not fitting bigint, want most of 300", misses.Load())
	}
	if res.DataFiles != 1 {
		t.Fatalf("--single-file wrote %d data files", res.DataFiles)
	}
	if _, err := os.Stat(filepath.Join(one, "data", "snapshot.parquet")); err != nil {
		t.Fatal(err)
	}
	sameLines(t, "single file", readLines(t, one), want)

	// A Parquet snapshot as the base of an incremental one.
	changed := typedItems(3)
	for _, it := range changed {
		it["qty"] = must(item.UnmarshalValue([]byte(`{"N":"99"}`)))
	}
	putMany(t, cl, src, changed, "pk", "sk")
	at2 := time.Now().Add(time.Second).Truncate(time.Second)
	time.Sleep(time.Until(at2))
	base, err := snapshot.Open(ctx, store.NewLocal(pq))
	if err != nil {
		t.Fatal(err)
	}
	inc := filepath.Join(root, "incremental")
	res, err = snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(inc), snapshot.Options{Source: src, At: at2, Format: snapshot.FormatParquet,
		Compression: "gzip", Base: base, Parquet: snapshot.ParquetOptions{Schema: ts}})
	if err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(root, "full2")
	if _, err := snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(full), snapshot.Options{Source: src, At: at2}); err != nil {
		t.Fatal(err)
	}
	if res.Fetched != 3 {
		t.Errorf("incremental on a parquet base fetched %d items, want 3", res.Fetched)
	}
	sameLines(t, "incremental", readLines(t, inc), readLines(t, full))
}
