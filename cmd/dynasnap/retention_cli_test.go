package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// aheadClock is the real clock moved on by a fixed amount.
type aheadClock struct{ d time.Duration }

func (c aheadClock) Now() time.Time { return time.Now().Add(c.d) }
func (c aheadClock) Sleep(ctx context.Context, d time.Duration) error {
	return fmt.Errorf("the ahead clock does not wait (%s)", d)
}

// TestRetentionCLI: the issue's command, `dynasnap compact --keep-exact 1h
// --keep-hourly 30d`, on SeaweedFS over a journal with a day of changes,
// then `snapshot --at` between two kept hours refused naming the rule
// and the two nearest exact times (the horizon as s3source reads it from
// the bucket's listing). S3 stamps segments with the real clock, so the
// day is the real last one under a descriptor lag longer than it (as in
// internal/journal's TestRetentionTiersS3, which checks the states
// against the oracle), compacted into levels as it goes by a compactor
// whose clock runs ahead by the lag; the CLI's compaction runs at the real
// clock. A read of that journal waits out the lag (a day), so this test
// does not read: the states are TestRetentionTiersS3's.
func TestRetentionCLI(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "backups", "rt")
	dir := src.Dir()
	b := &journal.S3Bucket{Client: c.S3(), Bucket: bucket}
	h := time.Now().UTC().Truncate(time.Hour)
	start := h.Add(-27 * time.Hour)
	lag := time.Now().Add(time.Hour).Sub(start).Truncate(time.Second)
	if err := journal.EnsureDescriptor(ctx, b, dir, lag, "test"); err != nil {
		t.Fatal(err)
	}
	seq := int64(1000)
	var recs []journal.Record
	const end = 26*3600 + 1800
	for sec := 0; sec < end; sec += 60 {
		at := start.Add(time.Duration(sec) * time.Second)
		seq++
		k := int(seq % 20)
		r := indexRecord(t, k, keyedChange{at: at, seq: seq, body: fmt.Sprintf(`{"pk":{"S":"k%06d"},"v":{"N":"%d"}}`, k, seq)})
		recs = append(recs, r)
		if sec%300 == 240 {
			if _, err := journal.WriteSegment(ctx, b, dir, recs, time.Now()); err != nil {
				t.Fatal(err)
			}
			recs = nil
		}
		if sec%3600 == 3540 {
			// Cuts where a 10 s lag cuts at the day's time.
			cp := &journal.Compactor{Bucket: b, Dir: dir, Intervals: []time.Duration{time.Minute, time.Hour}, BaseEvery: 24 * time.Hour,
				Skew: time.Second, Clock: aheadClock{at.Add(lag - 10*time.Second).Sub(time.Now())}, Tool: "test", PartBytes: 1 << 20}
			if _, err := cp.Run(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if time.Now().After(start.Add(lag)) {
		t.Fatal("the day took longer than the lag allows for")
	}
	source := "--source=" + src.String()
	stdout, stderr, code := cli("compact", source, "--keep-exact", "1h", "--keep-hourly", "30d", "--delete-delay", "0s", "--json")
	if code != 0 {
		t.Fatalf("compact: exit %d: %s", code, stderr)
	}
	var rep journal.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("compact --json: %v: %s", err, stdout)
	}
	thinned := 0
	for _, o := range rep.Outputs {
		if o.PrecisionSeconds == 3600 {
			thinned++
		}
	}
	if thinned == 0 {
		t.Fatalf("compact --keep-exact 1h: no thinned output: %s", stdout)
	}
	t.Logf("compact --keep-exact 1h --keep-hourly 30d: %d thinned outputs written, %d outputs and %d bases deleted", thinned, rep.OutputsDeleted, rep.BasesDeleted)
	// A thinned output written after the run read the clock is not yet
	// older than the delete delay: the next run replaces what it covers,
	// at least the top-level output of each window. It thins nothing but
	// top-level outputs, even once none is left exact (as here, where the
	// lag keeps the levels from reaching now - 1h): a level-1 output is
	// not a whole top-level window (DESIGN §10.13).
	stdout, stderr, code = cli("compact", source, "--keep-exact", "1h", "--keep-hourly", "30d", "--delete-delay", "0s", "--json")
	var rep2 journal.Report
	if code != 0 || json.Unmarshal([]byte(stdout), &rep2) != nil {
		t.Fatalf("compact again: exit %d: %s%s", code, stdout, stderr)
	}
	if rep.OutputsDeleted+rep2.OutputsDeleted < thinned {
		t.Fatalf("compact again: %d+%d outputs deleted, want at least %d: %s", rep.OutputsDeleted, rep2.OutputsDeleted, thinned, stdout)
	}
	for _, o := range rep2.Outputs {
		if o.PrecisionSeconds > 0 && o.Level != len(journal.DefaultIntervals) {
			t.Errorf("compact again: thinned level %d (%s, %s], not the top level %d", o.Level, history.FormatTime(o.From), history.FormatTime(o.To), len(journal.DefaultIntervals))
		}
	}

	// Between two kept hours: refused, naming the rule and the two nearest
	// exact times, by snapshot, restore and diff alike.
	between := start.Add(10*time.Hour + 17*time.Minute)
	want := history.FormatTime(start.Add(10*time.Hour)) + " and " + history.FormatTime(start.Add(11*time.Hour))
	guard, cancel := context.WithTimeout(ctx, 2*time.Minute) // a read would wait out the lag: fail, not hang
	defer cancel()
	at := between.Format(time.RFC3339)
	for _, args := range [][]string{
		{"snapshot", source, "--at", at, "--out", t.TempDir() + "/s", "--quiet"},
		{"restore", source, "--at", at, "--table", "never-written"},
		{"diff", source, "--from", at},
	} {
		_, stderr, code := cliCtx(guard, args...)
		if code != 1 || !strings.Contains(stderr, "journal retention (compact --keep-exact)") || !strings.Contains(stderr, want) ||
			!strings.Contains(stderr, "--allow-partial-history") {
			t.Errorf("%v: exit %d, want 1 naming the rule and %s: %s", args, code, want, stderr)
		}
	}
}
