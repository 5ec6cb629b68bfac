package duckdb

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// orderItems are items of an orders-like table with every scalar kind,
// sets, lists, maps, an attribute of mixed types and 38-digit numbers.
func orderItems(n int) []item.Item {
	out := make([]item.Item, n)
	for i := range out {
		mixed := fmt.Sprintf(`{"S":"v%d"}`, i)
		if i%3 == 0 {
			mixed = fmt.Sprintf(`{"N":"%d"}`, i)
		}
		it, err := item.Unmarshal(fmt.Appendf(nil, `{"pk":{"S":"tenant#%d"},"sk":{"N":"%d"},
			"price":{"N":"%d.%02d"},"qty":{"N":"%d"},"big":{"N":"1234567890123456789012345678901234567%d"},
			"paid":{"BOOL":%t},"blob":{"B":"AAEC"},"tags":{"SS":["a","t%d"]},"scores":{"NS":["-1","%d"]},
			"lines":{"L":[{"S":"x"},{"S":"y%d"}]},"addr":{"M":{"city":{"S":"Köln"},"zip":{"N":"50667"}}},
			"mixed":%s,"note":{"NULL":true}}`, i%7, i, i*3, i%100, i%5, i%10, i%2 == 0, i, i, i, mixed))
		if err != nil {
			panic(err)
		}
		out[i] = it
	}
	return out
}

// corpus is testdata/items: every attribute type, with odd names and values.
func corpus(t *testing.T) []item.Item {
	var out []item.Item
	for name, it := range testenv.Items(t) {
		if _, ok := it["pk"]; ok {
			it["sk"] = &types.AttributeValueMemberN{Value: "-1"}
		} else {
			// Another key: give it the table's, keep its attributes.
			it["pk"] = &types.AttributeValueMemberS{Value: "corpus#" + name}
			it["sk"] = &types.AttributeValueMemberN{Value: "-2"}
		}
		out = append(out, it)
	}
	return out
}

func seed(t *testing.T, cl *s3.Client, src layout.Location, items []item.Item) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id, err := item.KeyID(it, "pk", "sk")
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := item.Marshal(it)
			if _, err := cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(src.Bucket),
				Key: aws.String(src.ObjectKey(id)), Body: bytes.NewReader(body)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

func canonical(t *testing.T, raw string) string {
	it, err := item.Unmarshal([]byte(raw))
	if err != nil {
		t.Fatalf("%v: %.100s", err, raw)
	}
	b, _ := item.Marshal(it)
	return string(b)
}

// DuckDB reads the Parquet snapshot and returns the same items, counts and
// types as it reads from the JSON-lines snapshot of the same time.
func TestDuckDBReadsParquetSnapshot(t *testing.T) {
	c := testenv.Clients(t)
	cl := c.S3()
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "bk", "orders")
	seed(t, cl, src, append(orderItems(400), corpus(t)...))
	at := time.Now().Add(time.Second).Truncate(time.Second)
	time.Sleep(time.Until(at))

	root := t.TempDir()
	jsonl, pq, one := filepath.Join(root, "jsonl"), filepath.Join(root, "parquet"), filepath.Join(root, "single")
	if _, err := snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(jsonl), snapshot.Options{Source: src, At: at}); err != nil {
		t.Fatal(err)
	}
	res, err := snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(pq), snapshot.Options{Source: src, At: at, Format: snapshot.FormatParquet,
		Compression: "zstd", Parquet: snapshot.ParquetOptions{RowGroupBytes: 16 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(one), snapshot.Options{Source: src, At: at, Format: snapshot.FormatParquet,
		Compression: "gzip", SingleFile: true}); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	query := func(q string, args ...any) *sql.Rows {
		t.Helper()
		rows, err := db.Query(q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return rows
	}

	// The JSON-lines snapshot, read by DuckDB too: object key -> item.
	want := map[string]string{}
	rows := query(fmt.Sprintf(`SELECT j.Item::VARCHAR, s.key FROM
		(SELECT Item, row_number() OVER () AS n FROM read_json('%[1]s/data/*.json.gz', format='newline_delimited', columns={'Item': 'JSON'}, filename=true) ORDER BY filename, n) j
		POSITIONAL JOIN
		(SELECT key FROM read_json('%[1]s/sidecar/*.json.gz', format='newline_delimited', columns={'key': 'VARCHAR'}, filename=true) ORDER BY filename) s`, jsonl))
	for rows.Next() {
		var it, key string
		if err := rows.Scan(&it, &key); err != nil {
			t.Fatal(err)
		}
		want[key] = canonical(t, it)
	}
	rows.Close()
	if len(want) != int(res.Items) || len(want) != 403 {
		t.Fatalf("DuckDB read %d items from the JSON-lines snapshot; the parquet run wrote %d; seeded 403", len(want), res.Items)
	}

	for _, dir := range []string{pq, one} {
		files := dir + "/data/*.parquet"
		var n int
		if err := db.QueryRow(fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s')`, files)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(want) {
			t.Errorf("%s: DuckDB counts %d rows, the JSON-lines snapshot %d", dir, n, len(want))
		}
		// item round-trips exactly: the bytes dynasnap wrote into JSON lines.
		got := map[string]string{}
		rows := query(fmt.Sprintf(`SELECT _object_key, item, _version_id, _last_modified FROM read_parquet('%s') ORDER BY _object_key`, files))
		for rows.Next() {
			var key, it, ver string
			var lm time.Time
			if err := rows.Scan(&key, &it, &ver, &lm); err != nil {
				t.Fatal(err)
			}
			if ver == "" || lm.After(at) || lm.Before(at.Add(-10*time.Minute)) {
				t.Errorf("%s: version %q last modified %s", key, ver, lm)
			}
			got[key] = it
		}
		rows.Close()
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: item of %s:\n got %.300s\nwant %.300s", dir, k, got[k], v)
			}
		}
	}

	// Column types as DuckDB sees them.
	wantTypes := map[string]string{"pk": "VARCHAR", "sk": "BIGINT", "price": "DECIMAL(38,2)", "qty": "BIGINT",
		"big": "DECIMAL(38,0)", "paid": "BOOLEAN", "blob": "BLOB", "tags": "VARCHAR[]", "scores": "BIGINT[]",
		"lines": "VARCHAR[]", "addr": "VARCHAR", "mixed": "VARCHAR", "item": "VARCHAR", "_object_key": "VARCHAR",
		"_version_id": "VARCHAR", "_last_modified": "TIMESTAMP WITH TIME ZONE"}
	rows = query(fmt.Sprintf(`DESCRIBE SELECT * FROM read_parquet('%s/data/*.parquet')`, pq))
	gotTypes := map[string]string{}
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		gotTypes[fmt.Sprint(vals[0])] = fmt.Sprint(vals[1])
	}
	rows.Close()
	for col, typ := range wantTypes {
		if gotTypes[col] != typ {
			t.Errorf("column %s: DuckDB type %q, want %q", col, gotTypes[col], typ)
		}
	}

	// The typed values agree with the items, for every order item.
	rows = query(fmt.Sprintf(`SELECT item, pk, sk, price::VARCHAR, qty, big::VARCHAR, paid, hex(blob), array_to_string(list_sort(tags), ','),
		array_to_string(scores, ','), array_to_string(lines, ','), json_extract_string(addr, '$.city'), json_extract(addr, '$.zip')::VARCHAR, mixed
		FROM read_parquet('%s/data/*.parquet') WHERE pk LIKE 'tenant#%%'`, pq))
	checked := 0
	for rows.Next() {
		var raw, pk, price, big, blob, tags, scores, lines, city, zip, mixed string
		var sk, qty int64
		var paid bool
		if err := rows.Scan(&raw, &pk, &sk, &price, &qty, &big, &paid, &blob, &tags, &scores, &lines, &city, &zip, &mixed); err != nil {
			t.Fatal(err)
		}
		it, err := item.Unmarshal([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		str := func(name string) string {
			switch v := it[name].(type) {
			case *types.AttributeValueMemberS:
				return v.Value
			case *types.AttributeValueMemberN:
				return v.Value
			}
			return ""
		}
		ss := append([]string(nil), it["tags"].(*types.AttributeValueMemberSS).Value...)
		sort.Strings(ss)
		ns := it["scores"].(*types.AttributeValueMemberNS).Value
		l := it["lines"].(*types.AttributeValueMemberL).Value
		got := []any{pk, fmt.Sprint(sk), price, fmt.Sprint(qty), big, paid, blob, tags, scores, lines, city, zip, mixed}
		wantVals := []any{str("pk"), str("sk"), str("price"), str("qty"), str("big"), it["paid"].(*types.AttributeValueMemberBOOL).Value,
			strings.ToUpper(hex.EncodeToString(it["blob"].(*types.AttributeValueMemberB).Value)), strings.Join(ss, ","),
			strings.Join(ns, ","), l[0].(*types.AttributeValueMemberS).Value + "," + l[1].(*types.AttributeValueMemberS).Value,
			"Köln", "50667", str("mixed")}
		if fmt.Sprint(got) != fmt.Sprint(wantVals) {
			t.Errorf("typed columns of %s:\n got %v\nwant %v", pk, got, wantVals)
		}
		checked++
	}
	rows.Close()
	if checked != 400 {
		t.Errorf("checked %d order rows, want 400", checked)
	}
}
