package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/faultproxy"
	"github.com/dynasnap/dynasnap/internal/reliability"
	"github.com/dynasnap/dynasnap/internal/testenv"
)

// relItems is the dataset size of the fault tests: small, but with page
// sizes of 10 it makes hundreds of requests, so 5% is dozens of faults.
const relItems = 400

// fewAttempts makes the SDK give up after 3 attempts in the 100% tests: the
// point there is a clear stop, and 10 attempts with backoff take a minute.
var fewAttempts = []string{"AWS_MAX_ATTEMPTS=3"}

// TestReliabilitySnapshotFaults: at 5% faults (503 SlowDown, 500, resets,
// slow answers, truncated bodies) on every S3 request, the snapshot equals
// the model and a fault-free snapshot; at 100% it stops with a clear error,
// exits non-zero and writes no manifest-summary.json.
func TestReliabilitySnapshotFaults(t *testing.T) {
	c := testenv.Clients(t)
	src, want, at := relSeed(t, c, relItems)
	clean := filepath.Join(t.TempDir(), "clean")
	if _, e, code := run(t, "snapshot", "--source", src.String(), "--at", at, "--out", clean, "--quiet"); code != 0 {
		t.Fatalf("fault-free snapshot: exit %d: %s", code, e)
	}
	if lost, d := relCompare(want, relSnapshotModel(t, c, clean)); lost != 0 {
		t.Fatalf("fault-free snapshot differs from the model: %s", d)
	}
	s3url := os.Getenv("AWS_ENDPOINT_URL_S3")
	small := []string{"--page-size", "10", "--concurrency", "8", "--list-concurrency", "4", "--quiet"}

	t.Run("5%", func(t *testing.T) {
		p := faultproxy.New(t, faultproxy.Config{Target: s3url, Rate: 0.05, Seed: 5})
		out := filepath.Join(t.TempDir(), "snap")
		start := time.Now()
		stdout, stderr, code := relRun(t, nil, append([]string{"snapshot", "--source", src.String(), "--at", at,
			"--out", out, "--endpoint-url", p.URL, "--json"}, small...)...)
		st := p.Stats()
		if code != 0 {
			t.Fatalf("exit %d through 5%% faults (%v): %s", code, st.Injected, stderr)
		}
		got := relSnapshotModel(t, c, out)
		lost, d := relCompare(want, got)
		var sum struct{ Items int }
		json.Unmarshal([]byte(stdout), &sum)
		reliability.Record(t, reliability.Result{Area: "snapshot", Tried: "5% of S3 requests faulted: " + kinds(faultproxy.S3Kinds),
			Outcome: "completed; snapshot equals the model and a fault-free run", Rate: 0.05, Seed: 5, Requests: st.Requests,
			Injected: st.Injected, Faults: st.Faults(), Retries: st.Repeats, Checked: int64(len(want)), Lost: int64(lost),
			Exit: code, Message: "snapshot: " + itoa(sum.Items) + " items", Seconds: time.Since(start).Seconds()})
		if lost != 0 {
			t.Fatalf("%d items lost or wrong: %s", lost, d)
		}
		if st.Faults() < 5 {
			t.Fatalf("only %d faults injected in %d requests", st.Faults(), st.Requests)
		}
		t.Logf("proxy: %+v", st)
	})

	for _, tc := range []struct {
		name, tried string
		eligible    func(*http.Request) bool
	}{
		{"100%", "100% of S3 requests fail", nil},
		{"100% GetObject", "100% of GetObject requests fail (listing works, data files are being written)",
			func(r *http.Request) bool { return r.Method == http.MethodGet && r.URL.Query().Has("versionId") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := faultproxy.New(t, faultproxy.Config{Target: s3url, Rate: 1, Seed: 100, Kinds: faultproxy.Failing, Eligible: tc.eligible})
			out := filepath.Join(t.TempDir(), "snap")
			start := time.Now()
			_, stderr, code := relRun(t, fewAttempts, append([]string{"snapshot", "--source", src.String(), "--at", at,
				"--out", out, "--endpoint-url", p.URL}, small...)...)
			st := p.Stats()
			_, serr := os.Stat(filepath.Join(out, "manifest-summary.json"))
			reliability.Record(t, reliability.Result{Area: "snapshot", Tried: tc.tried,
				Outcome: "stopped, exit " + itoa(code) + ", no manifest-summary.json", Rate: 1, Seed: 100, Requests: st.Requests,
				Injected: st.Injected, Faults: st.Faults(), Retries: st.Repeats, Exit: code, Message: stderr, Seconds: time.Since(start).Seconds()})
			t.Logf("exit %d, proxy %+v: %s", code, st, stderr)
			if code == 0 || !strings.Contains(stderr, "dynasnap snapshot:") {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if !os.IsNotExist(serr) {
				t.Fatalf("a failed snapshot left manifest-summary.json (%v)", serr)
			}
		})
	}
}

func kinds(ks []faultproxy.Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func itoa(n int) string { return strconv.Itoa(n) }
