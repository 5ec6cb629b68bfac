package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/journal"
)

// Targets of issue 24 (the change journal), each a ratio or a count
// measured in the same run.
const (
	// S3 requests per 1,000 changes of the journal writer at 500-change
	// batches (the per-item writer: about 2,148).
	targetJournalWriterRequests = 5.0
	// S3 requests per item of compact + snapshot of a journal.
	targetJournalRequestsPerItem = 0.05
	// Items/s of compact + snapshot of a journal against the per-item
	// snapshot of the same changes.
	targetJournalSpeedup = 20.0
	// Snapshot of a compacted journal against GET + gunzip of the objects
	// it reads.
	targetJournalCeilingRatio = 0.5
)

// compactSummary is the part of `dynasnap compact --json` the bench reads.
type compactSummary struct {
	Outputs []struct {
		Kind     string    `json:"kind"`
		Level    int       `json:"level"`
		To       time.Time `json:"to"`
		Records  int64     `json:"records"`
		Parts    int       `json:"parts"`
		Finished bool      `json:"finished"`
	} `json:"outputs"`
	SegmentsRead    int64   `json:"segmentsRead"`
	RecordsRead     int64   `json:"recordsRead"`
	ObjectsRead     int64   `json:"objectsRead"`
	SegmentsDeleted int     `json:"segmentsDeleted"`
	OutputsDeleted  int     `json:"outputsDeleted"`
	Seconds         float64 `json:"seconds"`
}

// baseAt is the time of the base the compaction wrote (zero: none).
func (c compactSummary) baseAt() time.Time {
	for _, o := range c.Outputs {
		if o.Kind == "base" && o.Finished {
			return o.To
		}
	}
	return time.Time{}
}

// compactRun is one compaction of a fresh copy of a journal dataset.
type compactRun struct {
	Dir      string // the copy's table folder
	Source   string // its --source
	Copied   int    // objects copied
	Summary  compactSummary
	Run      shimmed
	Requests map[string]int64 // through the counting proxy (nil: not counted)
}

// compactCopy copies the journal dataset s to a fresh table folder, waits
// until a base can cover every copied change (the lag and the clock skew
// passed since the copy: their store time is the copy's), and compacts it
// with the configured intervals, a base every second and no delete delay,
// through endpoint ("" = direct). The copy stays for the caller to read
// and delete.
func compactCopy(ctx context.Context, cl *s3.Client, s Seeded, cfg Config, endpoint string, p *LatencyProxy, log io.Writer) (compactRun, error) {
	from := s.Location(s.Table).Dir()
	table := "run-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	loc := s.Location(table)
	n, copied, err := copyJournal(ctx, cl, s.Bucket, from, loc.Dir())
	if err != nil {
		return compactRun{}, err
	}
	r := compactRun{Dir: loc.Dir(), Source: loc.String(), Copied: n}
	// A base at B holds the changes whose effective time (at the latest
	// the store time less the lag) is at or before B; compact writes one
	// at (now - lag - skew) truncated to the second, and deletes segments
	// stored a second before what outputs cover: wait for both to cover
	// the last copy.
	wait := time.Until(copied.Add(journalLag + history.DefaultClockSkew + 3*time.Second))
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	args := []string{"compact", "--source", r.Source, "--intervals", cfg.JournalIntervals, "--base-every", "1s", "--delete-delay", "0s", "--quiet", "--json"}
	if endpoint != "" {
		args = append(args, "--endpoint-url", endpoint)
	}
	var before map[string]int64
	if p != nil {
		before = p.Kinds()
	}
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 4096}
	waitQuiet(ctx)
	cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	run, err := runShimmed(cctx, cfg.Bin, args, &stdout, stderr)
	if err != nil {
		return r, fmt.Errorf("dynasnap %v: %w; stderr ends:\n%s", args, err, stderr)
	}
	if p != nil {
		r.Requests = diffKinds(before, p.Kinds())
	}
	r.Run = run
	if err := json.Unmarshal(stdout.Bytes(), &r.Summary); err != nil {
		return r, fmt.Errorf("read compact --json: %w: %q", err, truncate(stdout.String(), 500))
	}
	if r.Summary.baseAt().IsZero() {
		return r, fmt.Errorf("compact wrote no base: %s", truncate(stdout.String(), 1000))
	}
	fmt.Fprintf(log, "  compact of %d copied objects: %.2fs wall, %.2fs CPU, %.1f MB peak RSS; %d records read from %d objects, %d segments deleted; base at %s\n",
		n, run.Wall.Seconds(), run.CPU.Seconds(), float64(run.MaxRSS)/(1<<20), r.Summary.RecordsRead, r.Summary.ObjectsRead, r.Summary.SegmentsDeleted, r.Summary.baseAt().Format(time.RFC3339))
	return r, nil
}

// measureJournal measures the journal section (issue 24). one is the
// per-item 1x dataset, whose snapshot is the figure the journal's compact
// and snapshot are held against.
func measureJournal(ctx context.Context, cl *s3.Client, one Seeded, j1, j4 *Seeded, endpoint string, cfg Config, log io.Writer) []Row {
	rows := measureJournalWriter(ctx, cl, endpoint, log)
	if j1 == nil {
		return rows
	}
	p, err := StartLatencyProxy(endpoint, 0)
	if err != nil {
		return append(rows, Failed("journal: counting proxy", err))
	}
	defer p.Close()
	name := fmt.Sprintf("journal %s", short(one.Items))
	var runs []compactRun
	defer func() {
		for _, r := range runs {
			deleteFolder(context.WithoutCancel(ctx), cl, j1.Bucket, r.Dir)
		}
	}()

	// Compact + snapshot on fresh copies (a compaction changes its
	// journal): once through the counting proxy, for the requests, then
	// twice direct, the faster of which is timed. The proxy is a meter in
	// the bench process: its copying and hops would be timed with the
	// journal and not with the per-item snapshot it is held against,
	// which runs direct.
	type journalRun struct {
		compact  compactRun
		snap     SnapshotRun
		requests map[string]int64
	}
	var counted, best journalRun
	for i := 1; i <= 3; i++ {
		viaProxy := i == 1
		how, ep, pp := "direct, timed", "", (*LatencyProxy)(nil)
		if viaProxy {
			how, ep, pp = "through the counting proxy", p.URL, p
		}
		fmt.Fprintf(log, "%s: compact + snapshot of a copy of %s, run %d (%s)\n", name, j1.Source(), i, how)
		c, err := compactCopy(ctx, cl, *j1, cfg, ep, pp, log)
		if c.Dir != "" {
			runs = append(runs, c)
		}
		if err != nil {
			return append(rows, Failed(name+": compact", err))
		}
		before := p.Kinds()
		snap, err := runSnapshot(ctx, SnapshotOptions{Bin: cfg.Bin, Source: c.Source, Concurrency: cfg.Concurrency, EndpointURL: ep, Timeout: cfg.Timeout,
			At: c.Summary.baseAt(), OutDir: filepath.Join(cfg.WorkDir, fmt.Sprintf("journal-%d", time.Now().UnixNano()))})
		if err != nil {
			return append(rows, Failed(name+": snapshot", err))
		}
		r := journalRun{compact: c, snap: snap}
		if viaProxy {
			r.requests = diffKinds(before, p.Kinds())
			for k, v := range c.Requests {
				r.requests[k] += v
			}
			counted = r
		} else if best.snap.WallSeconds == 0 || r.compact.Run.Wall.Seconds()+r.snap.WallSeconds < best.compact.Run.Wall.Seconds()+best.snap.WallSeconds {
			best = r
		}
		fmt.Fprintf(log, "  snapshot: %.2fs wall, %.1f MB peak RSS, %d items; compact + snapshot %.2fs", snap.WallSeconds, float64(snap.MaxRSSBytes)/(1<<20), snap.Summary.Items, c.Run.Wall.Seconds()+snap.WallSeconds)
		if viaProxy {
			fmt.Fprintf(log, ", %d requests (%s)", total(r.requests), kindsString(r.requests))
		}
		fmt.Fprintf(log, "; %s\n", snap.Other())
	}
	best.requests = counted.requests
	at := best.compact.Summary.baseAt()

	// The per-item snapshot of the same changes at the same time.
	fmt.Fprintf(log, "%s: per-item snapshot of %s at %s\n", name, one.Source(), at.Format(time.RFC3339))
	items, err := bestRun(ctx, SnapshotOptions{Bin: cfg.Bin, Source: one.Source(), Concurrency: cfg.Concurrency, Timeout: cfg.Timeout, At: at}, cfg, "journal-items", log)
	if err != nil {
		return append(rows, Failed(name+": per-item snapshot", err))
	}
	jsecs := best.compact.Run.Wall.Seconds() + best.snap.WallSeconds
	jrate := float64(best.snap.Summary.Items) / jsecs
	speedup := jrate / items.WallItemsPerSecond()
	perItem := float64(total(best.requests)) / float64(max(1, best.snap.Summary.Items))
	rows = append(rows,
		itemsRow(name+" (compacted)", best.snap.Summary.Items, one.Items),
		itemsRow(name+" per-item snapshot", items.Summary.Items, one.Items),
		Info(name+": compact", "%.2fs wall, %.2fs CPU, %.1f MB peak RSS (%d segments, %d records read; %d outputs; %d segments deleted; --intervals %s --base-every 1s --delete-delay 0s)",
			best.compact.Run.Wall.Seconds(), best.compact.Run.CPU.Seconds(), float64(best.compact.Run.MaxRSS)/(1<<20), best.compact.Copied-1, best.compact.Summary.RecordsRead,
			len(best.compact.Summary.Outputs), best.compact.Summary.SegmentsDeleted, cfg.JournalIntervals),
		Info(name+": snapshot of the compacted journal (timed run)", "%.2fs wall, %.0f items/s, %.1f MB peak RSS", best.snap.WallSeconds, best.snap.WallItemsPerSecond(), float64(best.snap.MaxRSSBytes)/(1<<20)),
		Info(name+": compact + snapshot items/s", "%.0f items/s (%.2fs, faster of 2 direct runs)", jrate, jsecs),
		Info(name+": per-item snapshot items/s (same changes)", "%.0f items/s (%.2fs wall, best of %d; %d GETs, %d LISTs self-reported)", items.WallItemsPerSecond(), items.WallSeconds, items.Runs,
			items.Summary.GetObjectRequests, items.Summary.ListRequests),
		Check(name+": compact + snapshot / per-item snapshot, items/s", fmt.Sprintf("%.1fx", speedup), fmt.Sprintf(">= %.0fx", targetJournalSpeedup), speedup >= targetJournalSpeedup),
		Check(name+": compact + snapshot S3 requests per item", fmt.Sprintf("%.4f (%d: %s)", perItem, total(best.requests), kindsString(best.requests)),
			fmt.Sprintf("<= %.2f", targetJournalRequestsPerItem), perItem <= targetJournalRequestsPerItem),
	)
	if items.Summary.Items > 0 {
		n := items.Summary.GetObjectRequests + items.Summary.ListRequests
		rows = append(rows, Info(name+": per-item snapshot S3 requests per item", "%.2f (self-reported GETs and LISTs)", float64(n)/float64(items.Summary.Items)))
	}

	// The compacted journal's snapshot against GET + gunzip of the same
	// objects, direct (no proxy), at the same concurrency.
	ceilRows, ceilRSS := journalCeiling(ctx, cl, *j1, best.compact, cfg, name, log)
	rows = append(rows, ceilRows...)

	// Memory: 1x against 4x, compacted (the 1x peak is the highest of its
	// snapshots'); and the uncompacted journal, whose merge reads every
	// segment.
	oneRSS := max(best.snap.MaxRSSBytes, ceilRSS)
	if j4 != nil {
		name4 := fmt.Sprintf("journal %s", short(j4.Items))
		fmt.Fprintf(log, "%s: compact (direct, not timed against anything) and snapshot of a copy of %s\n", name4, j4.Source())
		c, err := compactCopy(ctx, cl, *j4, cfg, "", nil, log)
		if c.Dir != "" {
			defer deleteFolder(context.WithoutCancel(ctx), cl, j4.Bucket, c.Dir)
		}
		if err != nil {
			rows = append(rows, Failed(name4+": compact", err))
		} else {
			run, err := runSnapshot(ctx, SnapshotOptions{Bin: cfg.Bin, Source: c.Source, Concurrency: cfg.Concurrency, Timeout: cfg.Timeout,
				At: c.Summary.baseAt(), OutDir: filepath.Join(cfg.WorkDir, fmt.Sprintf("journal4-%d", time.Now().UnixNano()))})
			if err != nil {
				rows = append(rows, Failed(name4+": snapshot", err))
			} else {
				fmt.Fprintf(log, "  snapshot: %.2fs, %.1f MB peak RSS\n", run.WallSeconds, float64(run.MaxRSSBytes)/(1<<20))
				g := float64(run.MaxRSSBytes) / float64(max(1, oneRSS))
				rows = append(rows,
					itemsRow(name4+" (compacted)", run.Summary.Items, j4.Items),
					Info(name4+": compact", "%.2fs wall, %.1f MB peak RSS (%d segments)", c.Run.Wall.Seconds(), float64(c.Run.MaxRSS)/(1<<20), c.Copied-1),
					Check(name4+": snapshot peak RSS (compacted)", MB(run.MaxRSSBytes), "< "+MB(targetRSS), run.MaxRSSBytes < targetRSS),
					Check(fmt.Sprintf("journal peak RSS %s / %s (compacted)", short(j4.Items), short(one.Items)), fmt.Sprintf("%.2f (%s / %s)", g, MB(run.MaxRSSBytes), MB(oneRSS)),
						fmt.Sprintf("<= %.1f", targetRSSGrowth), g <= targetRSSGrowth))
			}
		}
	}
	// The uncompacted journals: the seeded segments as they are, which
	// the reader merges journal.FanIn at a time, so the peak should not
	// follow the number of segments.
	var unRSS int64
	for _, s := range []*Seeded{j1, j4} {
		if s == nil {
			continue
		}
		n := fmt.Sprintf("journal %s", short(s.Items))
		segs := (s.Writes() + journalBatch - 1) / journalBatch
		uat := snapshotAt(*s)
		fmt.Fprintf(log, "%s: snapshot of the uncompacted journal %s (%d segments) at %s\n", n, s.Source(), segs, uat.Format(time.RFC3339))
		un, err := runSnapshot(ctx, SnapshotOptions{Bin: cfg.Bin, Source: s.Source(), Concurrency: cfg.Concurrency, Timeout: cfg.Timeout,
			At: uat, OutDir: filepath.Join(cfg.WorkDir, fmt.Sprintf("journal0-%d", time.Now().UnixNano()))})
		if err != nil {
			rows = append(rows, Failed(n+": snapshot of the uncompacted journal", err))
			continue
		}
		fmt.Fprintf(log, "  %.2fs, %.1f MB peak RSS, %d items\n", un.WallSeconds, float64(un.MaxRSSBytes)/(1<<20), un.Summary.Items)
		rows = append(rows,
			itemsRow(n+" (uncompacted)", un.Summary.Items, s.Items),
			Info(n+": snapshot of the uncompacted journal", "%.2fs wall, %.0f items/s (%d segments of %d changes)", un.WallSeconds, un.WallItemsPerSecond(), segs, journalBatch),
			Check(fmt.Sprintf("%s: snapshot peak RSS, uncompacted (%d segments)", n, segs), MB(un.MaxRSSBytes), "< "+MB(targetRSS), un.MaxRSSBytes < targetRSS),
		)
		if s == j1 {
			unRSS = un.MaxRSSBytes
		} else if unRSS > 0 {
			g := float64(un.MaxRSSBytes) / float64(unRSS)
			rows = append(rows, Check(fmt.Sprintf("journal peak RSS %s / %s (uncompacted)", short(s.Items), short(j1.Items)), fmt.Sprintf("%.2f (%s / %s)", g, MB(un.MaxRSSBytes), MB(unRSS)),
				fmt.Sprintf("<= %.1f", targetRSSGrowth), g <= targetRSSGrowth))
		}
	}
	return rows
}

// bestRun runs a snapshot tries(first run) times and keeps the fastest, as
// bestSnapshot does for a seeded table at its own time.
func bestRun(ctx context.Context, o SnapshotOptions, cfg Config, name string, log io.Writer) (SnapshotRun, error) {
	return bestOf(log, func() (SnapshotRun, error) {
		o.OutDir = filepath.Join(cfg.WorkDir, fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))
		return RunSnapshot(ctx, o)
	})
}

// journalCeiling holds the snapshot of the compacted journal (c) against a
// plain GET + gunzip of every object it reads (the base's parts: at the
// base's time no level file is read), taken before and after the
// snapshots, the higher counting.
func journalCeiling(ctx context.Context, cl *s3.Client, s Seeded, c compactRun, cfg Config, name string, log io.Writer) ([]Row, int64) {
	at := c.Summary.baseAt()
	folder := c.Dir + journal.Folder + "base/" + at.UTC().Format("20060102T150405.000Z") + "/"
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(folder + journal.ManifestName)})
	if err != nil {
		return []Row{Failed(name+": read-and-decompress ceiling", fmt.Errorf("base manifest: %w", err))}, 0
	}
	var m journal.Manifest
	err = json.NewDecoder(out.Body).Decode(&m)
	out.Body.Close()
	if err != nil {
		return []Row{Failed(name+": read-and-decompress ceiling", fmt.Errorf("base manifest: %w", err))}, 0
	}
	var keys []string
	var zbytes int64
	for _, f := range m.Files {
		keys = append(keys, folder+f.Name)
		zbytes += f.Bytes
	}
	var ceil Throughput
	ceiling := func(label string) error {
		t, err := undisturbed(func() (Throughput, error) {
			return readDecompress(ctx, cl, s.Bucket, keys, int(m.Records), cfg.Concurrency)
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "  ceiling (%s): GET + gunzip of %d objects (%.1f MB, %.1f MB unzipped): %.0f items/s (%.2fs), %s\n", label, len(keys), float64(zbytes)/(1<<20), float64(t.Bytes)/(1<<20), t.ItemsPerSecond(), t.Seconds, t.Other())
		if t.ItemsPerSecond() > ceil.ItemsPerSecond() {
			ceil = t
		}
		return nil
	}
	fmt.Fprintf(log, "%s: snapshot of the compacted journal against GET + gunzip of its base (%d parts)\n", name, len(keys))
	if err := ceiling("before"); err != nil {
		return []Row{Failed(name+": read-and-decompress ceiling", err)}, 0
	}
	run, err := bestRun(ctx, SnapshotOptions{Bin: cfg.Bin, Source: c.Source, Concurrency: cfg.Concurrency, Timeout: cfg.Timeout, At: at}, cfg, "journal-compacted", log)
	if err != nil {
		return []Row{Failed(name+": snapshot of the compacted journal", err)}, 0
	}
	if err := ceiling("after"); err != nil {
		return []Row{Failed(name+": read-and-decompress ceiling", err)}, 0
	}
	ratio := run.WallItemsPerSecond() / ceil.ItemsPerSecond()
	rows := []Row{
		Info(name+": read-and-decompress ceiling", "%.0f items/s (%.2fs; %d objects, %.1f MB gzip, %.1f MB JSON lines; %d in flight)", ceil.ItemsPerSecond(), ceil.Seconds, len(keys), float64(zbytes)/(1<<20), float64(ceil.Bytes)/(1<<20), min(cfg.Concurrency, len(keys))),
		Info(name+": snapshot of the compacted journal, best", "%.0f items/s (%.2fs wall, best of %d; %.1f MB peak RSS)", run.WallItemsPerSecond(), run.WallSeconds, run.Runs, float64(run.MaxRSSBytes)/(1<<20)),
		Check(name+": ratio snapshot / read-and-decompress", fmt.Sprintf("%.2f", ratio), fmt.Sprintf(">= %.1f", targetJournalCeilingRatio), ratio >= targetJournalCeilingRatio),
	}
	return rows, run.MaxRSSBytes
}

// readDecompress GETs every key and gunzips it to the end, concurrency at
// once: the least a reader of those objects does. items is what they hold.
func readDecompress(ctx context.Context, cl *s3.Client, bucket string, keys []string, items, concurrency int) (Throughput, error) {
	objs := make([]ObjectVersion, len(keys))
	for i, k := range keys {
		objs[i] = ObjectVersion{Key: k}
	}
	t, err := getLoop(ctx, objs, min(concurrency, len(keys)), func(ctx context.Context, o ObjectVersion) (int64, error) {
		return getGunzip(ctx, cl, bucket, o.Key)
	})
	if err != nil {
		return Throughput{}, err
	}
	t.Items = items
	return t, nil
}

func getGunzip(ctx context.Context, cl *s3.Client, bucket, key string) (int64, error) {
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	zr, err := gzip.NewReader(out.Body)
	if err != nil {
		return 0, fmt.Errorf("gunzip %s: %w", key, err)
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil {
		return n, fmt.Errorf("gunzip %s: %w", key, err)
	}
	return n, nil
}
