package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/awsconf"
)

// measureBase runs the 1x figures: ceiling, snapshot, ceiling again. The
// ceiling is taken on both sides of the snapshot and the higher one is used,
// so a slow moment of a shared machine cannot flatter the ratio.
func measureBase(ctx context.Context, cl *s3.Client, s Seeded, cfg Config, log io.Writer) ([]Row, SnapshotRun, bool) {
	fmt.Fprintf(log, "listing the latest live versions of %s (not timed)\n", s.Source())
	objs, err := LatestLive(ctx, cl, s.Location(s.Table))
	if err != nil {
		return []Row{Failed("raw ceiling", err)}, SnapshotRun{}, false
	}
	if len(objs) != s.Items {
		return []Row{Failed("raw ceiling", fmt.Errorf("listed %d live items in %s; the dataset has %d", len(objs), s.Source(), s.Items))}, SnapshotRun{}, false
	}
	var best Throughput
	ceiling := func(label string) error {
		fmt.Fprintf(log, "raw ceiling (%s): GetObject x %d, %d in flight\n", label, len(objs), cfg.Concurrency)
		t, err := Ceiling(ctx, cl, s.Bucket, objs, cfg.Concurrency)
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "  %.0f items/s (%.1fs)\n", t.ItemsPerSecond(), t.Seconds)
		if t.ItemsPerSecond() > best.ItemsPerSecond() {
			best = t
		}
		return nil
	}
	if err := ceiling("before"); err != nil {
		return []Row{Failed("raw ceiling", err)}, SnapshotRun{}, false
	}
	fmt.Fprintf(log, "snapshot 1x: %s\n", s.Source())
	run, snapErr := cfg.bestSnapshot(ctx, s, "1x", "", log)
	if err := ceiling("after"); err != nil {
		return []Row{Failed("raw ceiling", err)}, SnapshotRun{}, false
	}
	rows := []Row{Info("1x: raw ceiling (GetObject loop)", "%.0f items/s (best of 2, %.1fs)", best.ItemsPerSecond(), best.Seconds)}
	if snapErr != nil {
		return append(rows, Failed("1x: snapshot", snapErr)), SnapshotRun{}, false
	}
	fmt.Fprintf(log, "raw ceiling with the snapshot's lean GET client: %d in flight\n", cfg.Concurrency)
	lean, leanErr := LeanCeiling(ctx, cl, s.Bucket, objs, cfg.Concurrency)
	sum := run.Summary
	ratio := run.WallItemsPerSecond() / best.ItemsPerSecond()
	rows = append(rows,
		itemsRow("1x", sum.Items, s.Items),
		Info("1x: snapshot items/s (wall clock)", "%.0f items/s (%.1fs, best of 2)", run.WallItemsPerSecond(), run.WallSeconds),
		Info("1x: snapshot items/s (self-reported)", "%.0f items/s (%.1fs)", sum.ItemsPerSecond, sum.Seconds),
		Check("1x: ratio snapshot / ceiling", fmt.Sprintf("%.2f", ratio), fmt.Sprintf(">= %.1f", targetRatio), ratio >= targetRatio),
		Info("1x: versions listed/s", "%.0f versions/s (%d versions)", sum.VersionsListedPerSecond, sum.VersionsListed),
		Check("1x: peak RSS", MB(run.MaxRSSBytes), "< "+MB(targetRSS), run.MaxRSSBytes < targetRSS),
	)
	rows = append(rows, cpuRows("1x", best, run)...)
	if leanErr != nil {
		return append(rows, Failed("1x: raw ceiling, lean GET loop", leanErr)), run, true
	}
	rows = append(rows,
		Info("1x: raw ceiling, lean GET loop", "%.0f items/s (%.1fs; server %s + client %s per item)", lean.ItemsPerSecond(), lean.Seconds,
			perItem(lean.ServerCPU, lean.Items), perItem(lean.ClientCPU, lean.Items)),
		Info("1x: ratio snapshot / lean GET loop", "%.2f (the snapshot's pipeline alone, with its GET client on both sides)", run.WallItemsPerSecond()/lean.ItemsPerSecond()))
	return rows, run, true
}

// measureScaled runs the memory check: the same snapshot on Scale times the
// items must stay within targetRSSGrowth of the 1x peak.
func measureScaled(ctx context.Context, s Seeded, cfg Config, one SnapshotRun, haveOne bool, log io.Writer) []Row {
	name := fmt.Sprintf("%dx", cfg.Scale)
	fmt.Fprintf(log, "snapshot %s: %s\n", name, s.Source())
	run, err := cfg.snapshot(ctx, s, name, "")
	if err != nil {
		return []Row{Failed(name+": snapshot", err)}
	}
	fmt.Fprintf(log, "  %.0f items/s wall (%.1fs), %.1f MB peak RSS\n", run.WallItemsPerSecond(), run.WallSeconds, float64(run.MaxRSSBytes)/(1<<20))
	rows := []Row{
		itemsRow(name, run.Summary.Items, s.Items),
		Info(name+": snapshot items/s (wall clock)", "%.0f items/s (%.1fs)", run.WallItemsPerSecond(), run.WallSeconds),
		Check(name+": peak RSS", MB(run.MaxRSSBytes), "< "+MB(targetRSS), run.MaxRSSBytes < targetRSS),
	}
	if haveOne && one.MaxRSSBytes > 0 {
		g := float64(run.MaxRSSBytes) / float64(one.MaxRSSBytes)
		rows = append(rows, Check("peak RSS "+name+" / 1x", fmt.Sprintf("%.2f", g), fmt.Sprintf("<= %.1f", targetRSSGrowth), g <= targetRSSGrowth))
	}
	return rows
}

// measureProxy runs the snapshot through the latency proxy: every request,
// listing included, pays the delay, as on AWS. The raw ceiling through the
// same proxy shows what the proxy itself allows, so a miss can be told apart
// from a slow proxy.
func measureProxy(ctx context.Context, cl *s3.Client, s Seeded, endpoint string, cfg Config, log io.Writer) []Row {
	name := fmt.Sprintf("+%v latency", cfg.Latency)
	p, err := StartLatencyProxy(endpoint, cfg.Latency)
	if err != nil {
		return []Row{Failed(name+": snapshot", err)}
	}
	defer p.Close()
	fmt.Fprintf(log, "snapshot through the %v latency proxy at %s: %s\n", cfg.Latency, p.URL, s.Source())
	before := p.Requests.Load()
	run, err := cfg.bestSnapshot(ctx, s, "proxy", p.URL, log)
	if err != nil {
		return []Row{Failed(name+": snapshot", err)}
	}
	through := p.Requests.Load() - before
	fmt.Fprintf(log, "  %d requests through the proxy\n", through)
	if through < int64(s.Items) {
		// The snapshot bypassed the proxy (it ignored --endpoint-url): the
		// figure would be a loopback figure.
		return []Row{Failed(name+": snapshot", fmt.Errorf("only %d requests went through the proxy for %d items: --endpoint-url was not used", through, s.Items))}
	}
	rate := run.WallItemsPerSecond()
	ceiling := Failed(name+": raw ceiling", nil)
	if c, err := proxyCeiling(ctx, cl, s, p.URL, cfg); err != nil {
		ceiling.Err = err
	} else {
		fmt.Fprintf(log, "  raw ceiling through the proxy: %.0f items/s (%.1fs)\n", c.ItemsPerSecond(), c.Seconds)
		ceiling = Info(name+": raw ceiling", "%.0f items/s (%.1fs)", c.ItemsPerSecond(), c.Seconds)
	}
	return []Row{
		ceiling,
		itemsRow(name, run.Summary.Items, s.Items),
		Check(name+": snapshot items/s", fmt.Sprintf("%.0f items/s (%.1fs, best of 2)", rate, run.WallSeconds), fmt.Sprintf(">= %.0f", targetProxyRate), rate >= targetProxyRate),
	}
}

// proxyCeiling is the GetObject loop of Ceiling with its requests sent
// through the proxy (listing, untimed, goes direct).
func proxyCeiling(ctx context.Context, direct *s3.Client, s Seeded, proxyURL string, cfg Config) (Throughput, error) {
	objs, err := LatestLive(ctx, direct, s.Location(s.Table))
	if err != nil {
		return Throughput{}, err
	}
	clients, err := awsconf.Load(ctx, awsconf.Options{EndpointURL: proxyURL, MaxConns: cfg.Concurrency})
	if err != nil {
		return Throughput{}, err
	}
	return Ceiling(ctx, clients.S3(), s.Bucket, objs, cfg.Concurrency)
}

// cpuRows show where the CPU went, per item, in the ceiling and in the
// snapshot. Server and client share this machine's cores, so while both are
// CPU-bound the snapshot can reach at most (ceiling CPU per item) / (snapshot
// CPU per item) of the ceiling's rate, whatever its concurrency.
func cpuRows(name string, c Throughput, run SnapshotRun) []Row {
	if !c.ServerOK || !run.ServerOK || c.Items == 0 || run.Summary.Items == 0 {
		return nil
	}
	n := run.Summary.Items
	ceil := (c.ServerCPU + c.ClientCPU).Seconds() / float64(c.Items)
	snap := (run.ServerCPU + run.ClientCPU).Seconds() / float64(n)
	rows := []Row{
		Info(name+": CPU per item, raw ceiling", "server %s + client %s", perItem(c.ServerCPU, c.Items), perItem(c.ClientCPU, c.Items)),
		Info(name+": CPU per item, snapshot", "server %s + client %s", perItem(run.ServerCPU, n), perItem(run.ClientCPU, n)),
	}
	if v := run.Summary.VersionsListed; v > 0 {
		// What the server spent beyond the GETs, spread over the versions
		// it listed: an estimate of its listing cost.
		gets := time.Duration(float64(c.ServerCPU) / float64(c.Items) * float64(run.Summary.GetObjectRequests))
		rows = append(rows, Info(name+": server CPU per listed version (est.)", "%s (%d versions for %d items)", perItem(run.ServerCPU-gets, v), v, n))
	}
	return append(rows, Info(name+": ratio the CPU allows", "%.2f (ceiling CPU per item / snapshot CPU per item; server and client share %d cores)", ceil/snap, runtime.NumCPU()))
}
