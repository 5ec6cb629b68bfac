package journal_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/testsupport/membucket"
)

// TestKeyIndex: a base's part is a series of gzip members with an index in
// its manifest; the whole part still gunzips as one stream, and a read of
// one id takes one ranged GET of one member and finds exactly its record.
func TestKeyIndex(t *testing.T) {
	ctx := context.Background()
	b := membucket.New()
	const dir = "p/t/"
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := journal.EnsureDescriptor(ctx, b, dir, time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	const n = 20_000
	var recs []journal.Record
	for k := range n {
		recs = append(recs, journal.Record{ID: keyID(k), TimeMs: at.UnixMilli(), Event: journal.EventBackfill,
			Keys: []byte(fmt.Sprintf(`{"pk":{"N":"%d"}}`, k)), NewImage: []byte(fmt.Sprintf(`{"pk":{"N":"%d"},"pad":{"S":"%s"}}`, k, strings.Repeat("x", 80)))})
	}
	if err := journal.WriteBaseRun(ctx, b, dir, at, recs); err != nil {
		t.Fatal(err)
	}
	if _, err := journal.FinishBase(ctx, b, dir, at, at, "test", 0); err != nil {
		t.Fatal(err)
	}
	var m journal.Manifest
	var part []byte
	for _, k := range b.Keys() {
		rc, _ := b.Get(ctx, k)
		body, _ := io.ReadAll(rc)
		switch {
		case strings.HasSuffix(k, "/manifest.json"):
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(k, "/base/") && strings.HasSuffix(k, ".jsonl.gz"):
			part = body
		}
	}
	if len(m.Files) != 1 || len(m.Files[0].Blocks) < 5 {
		t.Fatalf("want one part with an index of several blocks: %+v", m.Files)
	}
	zr, err := gzip.NewReader(bytes.NewReader(part))
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for sc := bufio.NewScanner(zr); sc.Scan(); lines++ {
	}
	if lines != n {
		t.Fatalf("the whole part gunzips to %d lines, want %d", lines, n)
	}
	r := &journal.Reader{Bucket: b}
	for _, k := range []int{0, 1, 777, n / 2, n - 1} {
		id := keyID(k)
		before := b.Ranges
		var got []history.Entry
		if _, err := r.Merge(ctx, dir, id, id+"\x00", []time.Time{at}, nil, func(e history.Entry) error { got = append(got, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Key != dir+id || !bytes.Contains(got[0].Body, []byte(fmt.Sprintf(`"N":"%d"`, k))) {
			t.Fatalf("key %d: got %+v", k, got)
		}
		if b.Ranges != before+1 {
			t.Fatalf("key %d: %d ranged GETs, want 1", k, b.Ranges-before)
		}
	}
}
