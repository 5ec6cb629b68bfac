package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Summary is the part of `dynasnap snapshot --json` the bench reads.
type Summary struct {
	Items                   int     `json:"items"`
	VersionsListed          int     `json:"versionsListed"`
	VersionsAfterExportTime int     `json:"versionsAfterExportTime"`
	RepeatsDropped          int     `json:"repeatsDropped"`
	ListRequests            int     `json:"listRequests"`
	PrefixesListed          int     `json:"prefixesListed"`
	Ranges                  int     `json:"ranges"`
	DataFiles               int     `json:"dataFiles"`
	Seconds                 float64 `json:"seconds"`
	ItemsPerSecond          float64 `json:"itemsPerSecond"`
	VersionsListedPerSecond float64 `json:"versionsListedPerSecond"`
	BytesWritten            int64   `json:"bytesWritten"`
	ExportTime              string  `json:"exportTime"`
	GetObjectRequests       int     `json:"getObjectRequests"`
	ReusedFromBase          int     `json:"reusedFromBase"`
	CopiedFrom              string  `json:"copiedFrom"`
}

// SnapshotRun is one snapshot subprocess, as seen from outside.
type SnapshotRun struct {
	Summary     Summary
	WallSeconds float64 // start of the process to its exit
	// MaxRSSBytes is the peak resident set of the process (its ru_maxrss,
	// started through the shim so that the bench's own peak is not in it).
	MaxRSSBytes int64
	// CPU used by the process (user + system), and by the server during
	// the run when it can be read (ServerOK).
	ClientCPU, ServerCPU time.Duration
	ServerOK             bool
	// BenchCPU is what the bench process used meanwhile: the latency
	// proxy's work, when the run goes through it.
	BenchCPU time.Duration
	// OtherCPU is what other processes used meanwhile (OtherOK).
	OtherCPU time.Duration
	OtherOK  bool
	// Runs is how many runs the best of was taken from.
	Runs int
}

// Other is the other processes' load during the run, for the log.
func (r SnapshotRun) Other() string {
	if !r.OtherOK {
		return "other load unknown"
	}
	return "other processes " + load(r.OtherCPU, r.WallSeconds)
}

// WallItemsPerSecond counts everything the user waits for: process start,
// listing, fetching, writing and the manifests. The bench compares this one
// with the ceiling, so nothing the snapshot leaves out of its own clock helps.
func (r SnapshotRun) WallItemsPerSecond() float64 {
	if r.WallSeconds <= 0 {
		return 0
	}
	return float64(r.Summary.Items) / r.WallSeconds
}

// Disturbed reports whether other processes used too much CPU meanwhile.
func (r SnapshotRun) Disturbed() bool { return disturbed(r.OtherCPU, r.OtherOK, r.WallSeconds) }

// WallDuration is WallSeconds as a duration.
func (r SnapshotRun) WallDuration() time.Duration {
	return time.Duration(r.WallSeconds * float64(time.Second))
}

// SnapshotOptions are the flags of one run.
type SnapshotOptions struct {
	Bin         string // path of the dynasnap binary
	Source      string // s3://bucket/prefix/table
	OutDir      string // must not exist yet; removed after the run
	Concurrency int
	// At is passed as --at when set. The default --at (the second the
	// command starts in) waits until that second is over plus the clock
	// skew allowance, up to two seconds of wall time that are no work: the
	// bench passes a moment after the seeding instead.
	At          time.Time
	EndpointURL string        // "" = from the environment
	Timeout     time.Duration // kills a hung run: the bench is bounded
	Keep        bool          // keep OutDir (a base for an incremental run)
	Extra       []string      // more flags, e.g. --base DIR
}

// RunSnapshot runs `dynasnap snapshot ... --json` and reads its summary and
// its peak RSS, again while a run is disturbed by other load (undisturbed).
// The output is deleted afterwards: only the figures matter and the 4x run
// writes a few hundred MB.
func RunSnapshot(ctx context.Context, o SnapshotOptions) (SnapshotRun, error) {
	return undisturbed(func() (SnapshotRun, error) { return runSnapshot(ctx, o) })
}

func runSnapshot(ctx context.Context, o SnapshotOptions) (SnapshotRun, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	// A run taken again writes where the last one did (a kept base).
	if err := os.RemoveAll(o.OutDir); err != nil {
		return SnapshotRun{}, err
	}
	if !o.Keep {
		defer os.RemoveAll(o.OutDir)
	}
	args := []string{"snapshot", "--source", o.Source, "--out", o.OutDir, "--format", "jsonl",
		"--concurrency", strconv.Itoa(o.Concurrency), "--quiet", "--json"}
	if !o.At.IsZero() {
		args = append(args, "--at", o.At.UTC().Format(time.RFC3339))
	}
	args = append(args, o.Extra...)
	if o.EndpointURL != "" {
		args = append(args, "--endpoint-url", o.EndpointURL)
	}
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 4096}
	waitQuiet(ctx)
	server, other, bench := startServerCPU(), startOther(), cpuTime()
	child, err := runShimmed(ctx, o.Bin, args, &stdout, stderr)
	serverCPU, serverOK := server.stop()
	benchCPU := cpuTime() - bench
	otherCPU, otherOK := other.stop(child.CPU)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("killed after %v: %w", o.Timeout, err)
		}
		return SnapshotRun{}, fmt.Errorf("%s %s: %w; stderr ends:\n%s", filepath.Base(o.Bin), strings.Join(args, " "), err, stderr)
	}
	sum, err := lastJSON(stdout.Bytes())
	if err != nil {
		return SnapshotRun{}, fmt.Errorf("read the --json summary of dynasnap snapshot: %w; stdout was %q", err, truncate(stdout.String(), 500))
	}
	run := SnapshotRun{Summary: sum, WallSeconds: child.Wall.Seconds(), MaxRSSBytes: child.MaxRSS, ServerCPU: serverCPU, ServerOK: serverOK,
		ClientCPU: child.CPU, BenchCPU: benchCPU, OtherCPU: otherCPU, OtherOK: otherOK}
	return run, nil
}

// lastJSON decodes the last JSON object on stdout; the contract is one
// object, and anything after it would be a bug worth failing on.
func lastJSON(b []byte) (Summary, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var s Summary
	found := false
	for {
		var cur Summary
		err := dec.Decode(&cur)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Summary{}, err
		}
		s, found = cur, true
	}
	if !found {
		return Summary{}, errors.New("no JSON object on stdout")
	}
	return s, nil
}

// tailBuffer keeps the last max bytes written: enough of stderr to explain a
// failure without holding a long progress log.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
