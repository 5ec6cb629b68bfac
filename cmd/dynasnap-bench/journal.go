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
// with the configured intervals and a base every second, through endpoint
// ("" = direct). With deleteNow the covered segments are deleted at once
// (--delete-delay 0s), else as a scheduled run leaves them: for a later
// run, once the default delay has passed. The copy stays for the caller
// to read and delete.
func compactCopy(ctx context.Context, cl *s3.Client, s Seeded, cfg Config, endpoint string, p *LatencyProxy, deleteNow bool, log io.Writer) (compactRun, error) {
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
	args := []string{"compact", "--source", r.Source, "--intervals", cfg.JournalIntervals, "--base-every", "1s", "--quiet", "--json"}
	if deleteNow {
		args = append(args, "--delete-delay", "0s")
	}
	if endpoint != "" {
		args = append(args, "--endpoint-url", endpoint)
	}
	var before map[string]int64
	if p != nil {
		before = p.Kinds()
	}
	r.Run, r.Summary, err = runCompact(ctx, cfg, args)
	if err != nil {
		return r, err
	}
	if p != nil {
		r.Requests = diffKinds(before, p.Kinds())
	}
	if r.Summary.baseAt().IsZero() {
		return r, fmt.Errorf("compact wrote no base: %+v", r.Summary)
	}
	run := r.Run
	fmt.Fprintf(log, "  compact of %d copied objects: %.2fs wall, %.2fs CPU, %.1f MB peak RSS; %d records read from %d objects, %d segments deleted; base at %s\n",
		n, run.Wall.Seconds(), run.CPU.Seconds(), float64(run.MaxRSS)/(1<<20), r.Summary.RecordsRead, r.Summary.ObjectsRead, r.Summary.SegmentsDeleted, r.Summary.baseAt().Format(time.RFC3339))
	return r, nil
}

// runCompact runs `dynasnap args` (a compact with --json) once the
// machine is quiet, and reads its report.
func runCompact(ctx context.Context, cfg Config, args []string) (shimmed, compactSummary, error) {
	var sum compactSummary
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 4096}
	waitQuiet(ctx)
	cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	run, err := runShimmed(cctx, cfg.Bin, args, &stdout, stderr)
	if err != nil {
		return run, sum, fmt.Errorf("dynasnap %v: %w; stderr ends:\n%s", args, err, stderr)
	}
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		return run, sum, fmt.Errorf("read compact --json: %w: %q", err, truncate(stdout.String(), 500))
	}
	return run, sum, nil
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
	// direct, as often as any measurement of its length (tries: five times
	// for a run of a second or two), the fastest of which is timed.
	// The counted run deletes the segments it covers at once, so their
	// requests count; the timed runs leave them, as a scheduled run does
	// with the default --delete-delay, to a later run, whose deletion is
	// timed apart below. The proxy is a meter in
	// the bench process: its copying and hops would be timed with the
	// journal and not with the per-item snapshot it is held against,
	// which runs direct.
	type journalRun struct {
		compact  compactRun
		snap     SnapshotRun
		requests map[string]int64
	}
	var counted, best journalRun
	direct := 1 // the direct runs, known after the first
	for i := 1; i <= 1+direct; i++ {
		viaProxy := i == 1
		how, ep, pp := "direct, timed", "", (*LatencyProxy)(nil)
		if viaProxy {
			how, ep, pp = "through the counting proxy", p.URL, p
		}
		fmt.Fprintf(log, "%s: compact + snapshot of a copy of %s, run %d (%s)\n", name, j1.Source(), i, how)
		c, err := compactCopy(ctx, cl, *j1, cfg, ep, pp, viaProxy, log)
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
		} else {
			if i == 2 {
				direct = tries(r.compact.Run.Wall.Seconds() + r.snap.WallSeconds)
			}
			if best.snap.WallSeconds == 0 || r.compact.Run.Wall.Seconds()+r.snap.WallSeconds < best.compact.Run.Wall.Seconds()+best.snap.WallSeconds {
				best = r
			}
		}
		fmt.Fprintf(log, "  snapshot: %.2fs wall, %.1f MB peak RSS, %d items; compact + snapshot %.2fs", snap.WallSeconds, float64(snap.MaxRSSBytes)/(1<<20), snap.Summary.Items, c.Run.Wall.Seconds()+snap.WallSeconds)
		if viaProxy {
			fmt.Fprintf(log, ", %d requests (%s)", total(r.requests), kindsString(r.requests))
		}
		fmt.Fprintf(log, "; %s\n", snap.Other())
	}
	best.requests = counted.requests
	at := best.compact.Summary.baseAt()
	del, delErr := laterDeletion(ctx, best.compact, cfg, log)

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
		Info(name+": compact", "%.2fs wall, %.2fs CPU, %.1f MB peak RSS (%d segments, %d records read; %d outputs; --intervals %s --base-every 1s; segments left to a later run, as the default --delete-delay does)",
			best.compact.Run.Wall.Seconds(), best.compact.Run.CPU.Seconds(), float64(best.compact.Run.MaxRSS)/(1<<20), best.compact.Copied-1, best.compact.Summary.RecordsRead,
			len(best.compact.Summary.Outputs), cfg.JournalIntervals),
		Info(name+": snapshot of the compacted journal (timed run)", "%.2fs wall, %.0f items/s, %.1f MB peak RSS", best.snap.WallSeconds, best.snap.WallItemsPerSecond(), float64(best.snap.MaxRSSBytes)/(1<<20)),
		Info(name+": compact + snapshot items/s", "%.0f items/s (%.2fs, fastest of %d direct runs)", jrate, jsecs, direct),
		Info(name+": per-item snapshot items/s (same changes)", "%.0f items/s (%.2fs wall, best of %d; %d GETs, %d LISTs self-reported)", items.WallItemsPerSecond(), items.WallSeconds, items.Runs,
			items.Summary.GetObjectRequests, items.Summary.ListRequests),
		Check(name+": compact + snapshot / per-item snapshot, items/s", fmt.Sprintf("%.1fx", speedup), fmt.Sprintf(">= %.0fx", targetJournalSpeedup), speedup >= targetJournalSpeedup),
	)
	if delErr != nil {
		rows = append(rows, Failed(name+": a later run's deletion of the covered segments", delErr))
	} else {
		withDel := float64(best.snap.Summary.Items) / (jsecs + del.Run.Wall.Seconds()) / items.WallItemsPerSecond()
		rows = append(rows,
			Info(name+": a later run's deletion of the covered segments", "%.2fs wall (%d segments; compact --base-every 0 --delete-delay 0s)", del.Run.Wall.Seconds(), del.Summary.SegmentsDeleted),
			Info(name+": compact + snapshot + that deletion / per-item snapshot, items/s", "%.1fx", withDel))
	}
	rows = append(rows,
		Check(name+": compact + snapshot S3 requests per item", fmt.Sprintf("%.4f (%d: %s)", perItem, total(best.requests), kindsString(best.requests)),
			fmt.Sprintf("<= %.2f", targetJournalRequestsPerItem), perItem <= targetJournalRequestsPerItem),
	)
	if items.Summary.Items > 0 {
		n := items.Summary.GetObjectRequests + items.Summary.ListRequests
		rows = append(rows, Info(name+": per-item snapshot S3 requests per item", "%.2f (self-reported GETs and LISTs)", float64(n)/float64(items.Summary.Items)))
	}

	// The compacted journal's snapshot against GET + gunzip of the same
	// objects, direct (no proxy), at the same concurrency.
	ceilRows, oneRSS := journalCeiling(ctx, cl, *j1, best.compact, cfg, name, log)
	rows = append(rows, ceilRows...)

	// Memory: 1x against 4x, compacted, each snapshot at its base's time
	// that copies the export files and the one that reads the base (the
	// 1x peaks are the highest of their runs'); and the uncompacted
	// journal, whose merge reads every segment.
	if oneRSS.copied > 0 {
		oneRSS.copied = max(oneRSS.copied, best.snap.MaxRSSBytes)
	}
	if j4 != nil {
		name4 := fmt.Sprintf("journal %s", short(j4.Items))
		fmt.Fprintf(log, "%s: compact (direct, not timed against anything) and snapshot of a copy of %s\n", name4, j4.Source())
		c, err := compactCopy(ctx, cl, *j4, cfg, "", nil, true, log)
		if c.Dir != "" {
			defer deleteFolder(context.WithoutCancel(ctx), cl, j4.Bucket, c.Dir)
		}
		if err != nil {
			rows = append(rows, Failed(name4+": compact", err))
		} else {
			rows = append(rows,
				Info(name4+": compact", "%.2fs wall, %.1f MB peak RSS (%d segments)", c.Run.Wall.Seconds(), float64(c.Run.MaxRSS)/(1<<20), c.Copied-1))
			for _, k := range []struct {
				what  string
				extra []string
				one   int64
			}{{"copies the export files", nil, oneRSS.copied}, {"reads the base", []string{"--file-size", "300MiB"}, oneRSS.read}} {
				if k.one == 0 {
					continue
				}
				run, err := runSnapshot(ctx, SnapshotOptions{Bin: cfg.Bin, Source: c.Source, Concurrency: cfg.Concurrency, Timeout: cfg.Timeout, Extra: k.extra,
					At: c.Summary.baseAt(), OutDir: filepath.Join(cfg.WorkDir, fmt.Sprintf("journal4-%d", time.Now().UnixNano()))})
				if err != nil {
					rows = append(rows, Failed(name4+": snapshot that "+k.what, err))
					continue
				}
				fmt.Fprintf(log, "  snapshot that %s: %.2fs, %.1f MB peak RSS\n", k.what, run.WallSeconds, float64(run.MaxRSSBytes)/(1<<20))
				g := float64(run.MaxRSSBytes) / float64(k.one)
				rows = append(rows,
					itemsRow(name4+" (compacted, snapshot that "+k.what+")", run.Summary.Items, j4.Items),
					Check(name4+": snapshot peak RSS (compacted, "+k.what+")", MB(run.MaxRSSBytes), "< "+MB(targetRSS), run.MaxRSSBytes < targetRSS),
					Check(fmt.Sprintf("journal peak RSS %s / %s (compacted, %s)", short(j4.Items), short(one.Items), k.what), fmt.Sprintf("%.2f (%s / %s)", g, MB(run.MaxRSSBytes), MB(k.one)),
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

// laterDeletion is what a later scheduled run does with the segments c
// covers once the delete delay has passed: a compaction with no base due
// and --delete-delay 0s, timed.
func laterDeletion(ctx context.Context, c compactRun, cfg Config, log io.Writer) (compactRun, error) {
	args := []string{"compact", "--source", c.Source, "--intervals", cfg.JournalIntervals, "--base-every", "0", "--delete-delay", "0s", "--quiet", "--json"}
	r := compactRun{Dir: c.Dir, Source: c.Source}
	var err error
	if r.Run, r.Summary, err = runCompact(ctx, cfg, args); err != nil {
		return r, err
	}
	fmt.Fprintf(log, "  a later run's deletion: %.2fs wall, %d segments deleted\n", r.Run.Wall.Seconds(), r.Summary.SegmentsDeleted)
	return r, nil
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
// plain GET + gunzip of every object it reads, taken before and after the
// snapshots, the higher counting. At the base's time no level file is
// read: the snapshot copies the base's export files when every part has
// them, else reads its parts. The snapshot that reads the parts (with a
// --file-size other than the default, which export files do not follow)
// is measured too, against GET + gunzip of the parts, as information.
func journalCeiling(ctx context.Context, cl *s3.Client, s Seeded, c compactRun, cfg Config, name string, log io.Writer) ([]Row, snapshotRSS) {
	at := c.Summary.baseAt()
	folder := c.Dir + journal.Folder + "base/" + at.UTC().Format("20060102T150405.000Z") + "/"
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(folder + journal.ManifestName)})
	if err != nil {
		return []Row{Failed(name+": read-and-decompress ceiling", fmt.Errorf("base manifest: %w", err))}, snapshotRSS{}
	}
	var m journal.Manifest
	err = json.NewDecoder(out.Body).Decode(&m)
	out.Body.Close()
	if err != nil {
		return []Row{Failed(name+": read-and-decompress ceiling", fmt.Errorf("base manifest: %w", err))}, snapshotRSS{}
	}
	var parts, exports objectSet
	for _, f := range m.Files {
		parts.add(folder+f.Name, f.Bytes)
		if e := f.Export; e != nil && m.ExportDir != "" {
			exports.add(folder+e.Data, e.DataBytes)
			exports.add(folder+e.Sidecar, e.SidecarBytes)
		}
	}
	opts := SnapshotOptions{Bin: cfg.Bin, Source: c.Source, Concurrency: cfg.Concurrency, Timeout: cfg.Timeout, At: at}
	copies := len(exports.keys) == 2*len(parts.keys) && len(parts.keys) > 0
	def, read := "its parts", parts
	if copies {
		def, read = "its export files, copied", exports
	}
	snap, ceil, err := againstCeiling(ctx, cl, s.Bucket, read, int(m.Records), opts, cfg, "journal-compacted", name+": snapshot at the base's time, reading "+def, log)
	if err != nil {
		return []Row{Failed(name+": snapshot of the compacted journal", err)}, snapshotRSS{}
	}
	if copies && snap.Summary.CopiedFrom == "" {
		return []Row{Failed(name+": snapshot of the compacted journal", fmt.Errorf("the base has export files, but the snapshot did not copy them"))}, snapshotRSS{}
	}
	ratio := snap.WallItemsPerSecond() / ceil.ItemsPerSecond()
	rows := []Row{
		Info(name+": read-and-decompress ceiling", "%.0f items/s (%.2fs; GET + gunzip of %s: %d objects, %.1f MB gzip, %.1f MB unzipped; %d in flight)", ceil.ItemsPerSecond(), ceil.Seconds, def, len(read.keys), float64(read.bytes)/(1<<20), float64(ceil.Bytes)/(1<<20), min(cfg.Concurrency, len(read.keys))),
		Info(name+": snapshot of the compacted journal, best", "%.0f items/s (%.2fs wall, best of %d; %.1f MB peak RSS; reads %s)", snap.WallItemsPerSecond(), snap.WallSeconds, snap.Runs, float64(snap.MaxRSSBytes)/(1<<20), def),
		Check(name+": ratio snapshot / read-and-decompress", fmt.Sprintf("%.2f", ratio), fmt.Sprintf(">= %.1f", targetJournalCeilingRatio), ratio >= targetJournalCeilingRatio),
	}
	rss := snapshotRSS{read: snap.MaxRSSBytes}
	if copies {
		rss = snapshotRSS{copied: snap.MaxRSSBytes}
		o := opts
		o.Extra = []string{"--file-size", "300MiB"}
		rsnap, rceil, err := againstCeiling(ctx, cl, s.Bucket, parts, int(m.Records), o, cfg, "journal-compacted-read", name+": snapshot at the base's time that reads its parts (--file-size 300MiB)", log)
		if err != nil {
			return append(rows, Failed(name+": snapshot of the compacted journal that reads its parts", err)), rss
		}
		rows = append(rows, Info(name+": snapshot that reads the base's parts / GET + gunzip of them", "%.2f (%.0f items/s, %.2fs wall; ceiling %.0f items/s, %.2fs)",
			rsnap.WallItemsPerSecond()/rceil.ItemsPerSecond(), rsnap.WallItemsPerSecond(), rsnap.WallSeconds, rceil.ItemsPerSecond(), rceil.Seconds))
		rss.read = rsnap.MaxRSSBytes
	}
	return rows, rss
}

// snapshotRSS is the peak RSS of the 1x snapshots at a base's time: the
// one that copies its export files (0: none has them) and the one that
// reads it.
type snapshotRSS struct{ copied, read int64 }

// objectSet is objects to read and their size.
type objectSet struct {
	keys  []string
	bytes int64
}

func (o *objectSet) add(key string, n int64) {
	o.keys = append(o.keys, key)
	o.bytes += n
}

// againstCeiling runs the snapshot o (best of the configured runs) between
// two GET + gunzip rounds of the objects in set (the faster counting).
func againstCeiling(ctx context.Context, cl *s3.Client, bucket string, set objectSet, items int, o SnapshotOptions, cfg Config, runName, title string, log io.Writer) (SnapshotRun, Throughput, error) {
	var ceil Throughput
	measure := func(label string) error {
		t, err := undisturbed(func() (Throughput, error) {
			return readDecompress(ctx, cl, bucket, set.keys, items, cfg.Concurrency)
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "  ceiling (%s): GET + gunzip of %d objects (%.1f MB, %.1f MB unzipped): %.0f items/s (%.2fs), %s\n", label, len(set.keys), float64(set.bytes)/(1<<20), float64(t.Bytes)/(1<<20), t.ItemsPerSecond(), t.Seconds, t.Other())
		if t.ItemsPerSecond() > ceil.ItemsPerSecond() {
			ceil = t
		}
		return nil
	}
	fmt.Fprintf(log, "%s\n", title)
	if err := measure("before"); err != nil {
		return SnapshotRun{}, ceil, err
	}
	run, err := bestRun(ctx, o, cfg, runName, log)
	if err != nil {
		return run, ceil, err
	}
	return run, ceil, measure("after")
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
