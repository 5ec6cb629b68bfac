package journal_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/testsupport/membucket"
	"github.com/dynasnap/dynasnap/internal/testsupport/memsource"
)

// Every object a journal holds matches its schema under schemas/, so
// another program can read it from the schemas alone.
func TestJournalSchemas(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	files, _ := filepath.Glob("../../schemas/*.schema.json")
	for _, f := range files {
		r, _ := os.Open(f)
		doc, err := jsonschema.UnmarshalJSON(r)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := c.AddResource("https://dynasnap.dev/schemas/"+filepath.Base(f), doc); err != nil {
			t.Fatal(err)
		}
	}
	schema := func(name string) *jsonschema.Schema {
		s, err := c.Compile("https://dynasnap.dev/schemas/" + name + ".schema.json")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	record, manifest, descriptor, items := schema("journal-record"), schema("journal-manifest"), schema("journal-descriptor"), schema("journal-items")

	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := membucket.New()
	b.Now = func() time.Time { return now }
	const dir = "p/t/"
	if err := journal.EnsureDescriptor(ctx, b, dir, time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	recs := []journal.Record{
		{ID: strings.Repeat("a", 64), TimeMs: now.UnixMilli(), Seq: "1", Stream: "arn:aws:dynamodb:r:1:table/t/stream/2026-01-01T00:00:00.000", Event: journal.EventInsert,
			Keys: []byte(`{"pk":{"S":"a"}}`), NewImage: []byte(`{"n":{"N":"1"},"pk":{"S":"a"}}`)},
		{ID: strings.Repeat("b", 64), TimeMs: now.UnixMilli(), Seq: "2", Stream: "arn:aws:dynamodb:r:1:table/t/stream/2026-01-01T00:00:00.000", Event: journal.EventRemove, TTL: true,
			Keys: []byte(`{"pk":{"S":"b"}}`)},
	}
	if _, err := journal.WriteSegment(ctx, b, dir, recs, now); err != nil {
		t.Fatal(err)
	}
	// A base of several blocks, so its manifest has a key index.
	baseRecs := []journal.Record{{ID: strings.Repeat("c", 64), TimeMs: now.UnixMilli(), Event: journal.EventBackfill,
		Keys: []byte(`{"pk":{"S":"c"}}`), NewImage: []byte(`{"pk":{"S":"c"}}`)}}
	for i := range 4000 {
		baseRecs = append(baseRecs, journal.Record{ID: fmt.Sprintf("d%063x", i), TimeMs: now.UnixMilli(), Event: journal.EventBackfill,
			Keys: []byte(fmt.Sprintf(`{"pk":{"S":"d%d"}}`, i)), NewImage: []byte(fmt.Sprintf(`{"pad":{"S":"%s"},"pk":{"S":"d%d"}}`, strings.Repeat("x", 60), i))})
	}
	if err := journal.WriteBaseRun(ctx, b, dir, now.Add(-time.Hour), baseRecs); err != nil {
		t.Fatal(err)
	}
	if _, err := journal.FinishBase(ctx, b, dir, now.Add(-time.Hour), now, "test", 0); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	comp := &journal.Compactor{Bucket: b, Dir: dir, Intervals: []time.Duration{time.Second, 10 * time.Second}, BaseEvery: 10 * time.Second,
		Clock: fakeClock{&now}, Skew: time.Second, Tool: "test"}
	if _, err := comp.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// Retention: thinned outputs (journal/hourly/) three hours on.
	now = now.Add(3 * time.Hour)
	comp.KeepExact = time.Hour
	if _, err := comp.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// An import of a per-item backup, its window open.
	vs := memsource.New("membucket")
	vs.Put("p/u/"+itemID(t, `{"pk":{"S":"a"}}`), []byte(`{"pk":{"S":"a"},"v":{"N":"1"}}`), now.Add(-time.Minute))
	imp := &journal.FromItems{Bucket: b, Versions: vs, Dir: "p/u/", Format: journal.ItemsDynasnap, Lag: time.Second, Clock: fakeClock{&now},
		Schema: keyschema.Schema{Hash: keyschema.Attr{Name: "pk", Type: "S"}}, Tool: "test"}
	if _, err := imp.Run(ctx); err != nil {
		t.Fatal(err)
	}
	validate := func(s *jsonschema.Schema, key string, data []byte) {
		t.Helper()
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if err := s.Validate(inst); err != nil {
			t.Fatalf("%s does not match its schema: %v\n%s", key, err, data)
		}
	}
	seen := map[string]int{}
	for _, key := range b.Keys() {
		rc, err := b.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		switch {
		case strings.Contains(key, "/journal/items/"):
			validate(items, key, body)
			seen["items"]++
		case strings.HasSuffix(key, "/journal.json"):
			validate(descriptor, key, body)
			seen["descriptor"]++
		case strings.HasSuffix(key, "/manifest.json"):
			validate(manifest, key, body)
			seen["manifest"]++
			if bytes.Contains(body, []byte(`"blocks"`)) {
				seen["indexed"]++
			}
			if bytes.Contains(body, []byte(`"precisionSeconds"`)) {
				seen["thinned"]++
			}
		case strings.HasSuffix(key, ".jsonl.gz"):
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(zr)
			for sc.Scan() {
				validate(record, key, sc.Bytes())
				seen["record"]++
			}
		}
	}
	if seen["descriptor"] != 2 || seen["manifest"] < 3 || seen["record"] < 5 || seen["indexed"] == 0 || seen["thinned"] == 0 || seen["items"] != 1 {
		t.Fatalf("validated too little: %v (objects %v)", seen, b.Keys())
	}
}

func itemID(t *testing.T, keys string) string {
	t.Helper()
	k, err := item.Unmarshal([]byte(keys))
	if err != nil {
		t.Fatal(err)
	}
	return item.ObjectID(must(item.CanonicalKey(k)))
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
