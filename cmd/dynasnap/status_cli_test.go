package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/status"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/fakesnap"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestStatusCLI: three tables in three states on SeaweedFS. orders (a
// journal) is current, snapshotted and drilled; payments (per item) has a
// writer that stopped an hour ago (a proxy moves its versions' times an
// hour back: S3 stamps LastModified itself); users (per item) is current
// but was never snapshotted. status prints each, and exits 3 with
// --max-lag 30m (payments) and with --max-snapshot-age (users).
func TestStatusCLI(t *testing.T) {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, true)
	now := time.Now().UTC()
	const prefix = "dynasnap"

	// orders: a journal with one segment, a definition, a snapshot and a
	// passed drill.
	seed := fleetSeed{t: t, c: c, bucket: bucket, prefix: prefix}
	seed.journal("orders", time.Minute, "a", now)
	put := seed.put
	put(prefix+"/orders.dynasnap-table-definition.json", `{"TableName":"orders"}`)
	snapRoot := layout.Location{Bucket: bucket, Prefix: prefix + status.SnapshotsSuffix}
	for _, tb := range []string{"orders", "payments"} {
		st, err := store.NewS3(c.S3(), snapRoot.Child(tb, "20260101T000000Z"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fakesnap.Put(t, st, now.Add(-10*time.Minute), "s3://"+bucket+"/"+prefix+"/"+tb, 1)
	}
	put(prefix+status.ResultsSuffix+"/orders/drill.json", `{"passed":true,"failures":[],"startTime":"`+now.Add(-time.Hour).Format(time.RFC3339)+`"}`)
	put(prefix+status.ResultsSuffix+"/payments/drill.json", `{"passed":false,"failures":["differs"],"startTime":"`+now.Add(-time.Hour).Format(time.RFC3339)+`"}`)

	// payments and users: per-item backups.
	seed.items("payments", "a")
	seed.items("users", "a")

	// The proxy: payments' versions listed an hour older than stored.
	target, _ := url.Parse(os.Getenv("AWS_ENDPOINT_URL_S3"))
	rp := httputil.NewSingleHostReverseProxy(target)
	lastMod := regexp.MustCompile(`<LastModified>([^<]+)</LastModified>`)
	rp.ModifyResponse = func(resp *http.Response) error {
		q := resp.Request.URL.Query()
		if _, versions := q["versions"]; !versions || !strings.HasPrefix(q.Get("prefix"), prefix+"/payments/") {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = lastMod.ReplaceAllFunc(body, func(m []byte) []byte {
			s := lastMod.FindSubmatch(m)[1]
			tm, err := time.Parse(time.RFC3339Nano, string(s))
			if err != nil {
				return m
			}
			return []byte("<LastModified>" + tm.Add(-time.Hour).Format("2006-01-02T15:04:05.000Z") + "</LastModified>")
		})
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(rp)
	defer srv.Close()

	backups := "s3://" + bucket + "/" + prefix
	stdout, stderr, code := cli("status", "--backups", backups, "--max-lag", "30m", "--endpoint-url", srv.URL)
	if code != statusBroken {
		t.Fatalf("--max-lag 30m: exit %d, want 3\n%s\n%s", code, stdout, stderr)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(stdout, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = l
		}
	}
	for tb, want := range map[string][]string{
		"orders":   {"journal", "ok (1h0m)", " ok"},
		"payments": {"items", "1h0m", "FAIL (1h0m)", "BREAKS"},
		"users":    {"items", "never", " ok"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[tb], w) {
				t.Errorf("%s: line %q lacks %q\n%s", tb, lines[tb], w, stdout)
			}
		}
	}
	if !strings.Contains(stdout, "payments: lag 1h0m") || strings.Contains(stdout, "orders: ") || strings.Contains(stdout, "users: ") {
		t.Errorf("breaks:\n%s", stdout)
	}

	// JSON, with a snapshot threshold: users, never snapshotted, breaks it.
	stdout, stderr, code = cli("status", "--backups", backups, "--max-lag", "30m", "--max-snapshot-age", "1h", "--json", "--endpoint-url", srv.URL)
	if code != statusBroken {
		t.Fatalf("--json: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var r struct {
		Tables []struct {
			Table        string
			Layout       string
			NewestExact  bool
			Lag          struct{ Seconds int64 }
			SnapshotTime *time.Time
			Definition   *time.Time
			Drill        *struct{ Passed bool }
			Breaks       []string
			Errors       []string
		}
		Broken int
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(r.Tables) != 3 || r.Broken != 2 {
		t.Fatalf("%s", stdout)
	}
	byName := map[string]int{}
	for i, tb := range r.Tables {
		byName[tb.Table] = i
		if len(tb.Errors) > 0 || !tb.NewestExact {
			t.Errorf("%s: %+v", tb.Table, tb)
		}
	}
	o, p, u := r.Tables[byName["orders"]], r.Tables[byName["payments"]], r.Tables[byName["users"]]
	if o.Layout != "journal" || o.Lag.Seconds > 600 || o.SnapshotTime == nil || o.Definition == nil || o.Drill == nil || !o.Drill.Passed || len(o.Breaks) != 0 {
		t.Errorf("orders: %+v", o)
	}
	if p.Layout != "items" || p.Lag.Seconds < 3500 || p.Lag.Seconds > 4200 || len(p.Breaks) != 1 || p.Drill == nil || p.Drill.Passed {
		t.Errorf("payments: %+v", p)
	}
	if u.SnapshotTime != nil || u.Definition != nil || u.Drill != nil || len(u.Breaks) != 1 || u.Breaks[0] != "never snapshotted" {
		t.Errorf("users: %+v", u)
	}

	// Without thresholds nothing breaks.
	if _, stderr, code := cli("status", "--backups", backups, "--endpoint-url", srv.URL, "--table", "orders,users"); code != 0 {
		t.Fatalf("no thresholds: exit %d: %s", code, stderr)
	}
}

// TestDrillReportOut: drill --report-out keeps the report of a failed
// drill too, in the form status reads.
func TestDrillReportOut(t *testing.T) {
	dir := t.TempDir()
	out := dir + "/drill.json"
	if _, stderr, code := cli("drill", "--snapshot", dir+"/missing", "--report-out", out, "--quiet"); code == 0 {
		t.Fatalf("drill of a missing snapshot passed: %s", stderr)
	}
	body, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Passed   *bool
		Failures []string
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Passed == nil || *r.Passed || len(r.Failures) == 0 {
		t.Fatalf("%v %s", err, body)
	}
	if _, _, code := cli("drill", "--snapshot", dir, "--report-out", "s3://bucket-only"); code != 2 {
		t.Fatalf("--report-out without a key: exit %d", code)
	}
}
