package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/testsupport/backuptest"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestBootstrapJournalUnderRIE: the real bootstrap with DYNASNAP_LAYOUT=journal
// under the emulator. A segment PUT that fails reports the batch's first
// record; the redelivery, whole and then from its middle, reads back as
// each change once, in stream order.
func TestBootstrapJournalUnderRIE(t *testing.T) {
	c := testenv.Clients(t)
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	bucket := testenv.Bucket(t, c, true)
	proxy := backuptest.NewProxy(t, os.Getenv("AWS_ENDPOINT_URL_S3"))
	bootstrap := buildBootstrap(t)
	rie := emulator(t)
	proxy.Fail(func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/journal/0/")
	})
	var logs syncBuffer
	url := startRIE(t, rie, bootstrap, &logs, map[string]string{
		"DYNASNAP_BUCKET":      bucket,
		"DYNASNAP_PREFIX":      "backups",
		"DYNASNAP_LAYOUT":      "journal",
		"DYNASNAP_JOURNAL_LAG": "90s",
		"AWS_ENDPOINT_URL_S3":  proxy.URL,
	})
	event, err := os.ReadFile("../../testdata/stream/batch.json")
	if err != nil {
		t.Fatal(err)
	}
	resp := invoke(t, url, event)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "111100000000000000000001" {
		t.Fatalf("batchItemFailures %+v, want the first record's sequence number; logs:\n%s", resp.BatchItemFailures, logs.String())
	}
	proxy.Fail(nil)
	var ev struct{ Records []json.RawMessage }
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	replay, _ := json.Marshal(map[string]any{"Records": ev.Records[2:]})
	for _, e := range [][]byte{event, replay} {
		if resp := invoke(t, url, e); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("redelivery failures %+v; logs:\n%s", resp.BatchItemFailures, logs.String())
		}
	}

	ctx := context.Background()
	jb := &journal.S3Bucket{Client: c.S3(), Bucket: bucket}
	st, err := journal.LoadState(ctx, jb, "backups/Orders/")
	if err != nil {
		t.Fatal(err)
	}
	if st.Desc.Lag() != 90*time.Second || st.Desc.Tool != "dynasnap-stream" {
		t.Errorf("descriptor %+v", st.Desc)
	}
	got := map[string]string{}
	err = (&journal.Reader{Bucket: jb}).MergeState(ctx, st, "", "", nil, &journal.ReadStats{}, func(g []journal.Record, _ time.Time) error {
		var s []string
		for _, r := range g {
			if r.IsDelete() {
				s = append(s, "del")
			} else {
				s = append(s, "put:"+strings.TrimLeft(strings.TrimPrefix(r.Seq, "1111"), "0"))
			}
		}
		got[g[0].ID] = strings.Join(s, " ")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		`{"pk":{"S":"user#1"},"sk":{"N":"1"}}`: "put:1 put:3 put:5",
		`{"pk":{"S":"user#2"},"sk":{"N":"2"}}`: "put:2 del put:7",
		`{"pk":{"S":"user#3"},"sk":{"N":"3"}}`: "put:4 del",
	}
	for k, w := range want {
		it, _ := item.Unmarshal([]byte(k))
		id, _ := item.KeyID(it)
		if got[id] != w {
			t.Errorf("%s: changes %q, want %q", k, got[id], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d items in the journal, want %d", len(got), len(want))
	}
	if !logs.waitFor(`"msg":"batch stored"`, `"layout":"journal"`) {
		t.Errorf("no journal batch log in:\n%s", logs.String())
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "Ada") || strings.Contains(line, "user#") {
			t.Errorf("log line holds item contents: %s", line)
		}
	}
}
