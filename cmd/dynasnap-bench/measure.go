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
		fmt.Fprintf(log, "  %.0f items/s (%.1fs), %s\n", t.ItemsPerSecond(), t.Seconds, t.Other())
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
	rows := []Row{Info("1x: raw ceiling (GetObject loop)", "%.0f items/s (best of 2, %.1fs; %s)", best.ItemsPerSecond(), best.Seconds, best.Other())}
	if snapErr != nil {
		return append(rows, Failed("1x: snapshot", snapErr)), SnapshotRun{}, false
	}
	fmt.Fprintf(log, "raw ceiling with the snapshot's lean GET client: %d in flight\n", cfg.Concurrency)
	lean, leanErr := LeanCeiling(ctx, cl, s.Bucket, objs, cfg.Concurrency)
	sum := run.Summary
	ratio := run.WallItemsPerSecond() / best.ItemsPerSecond()
	rows = append(rows,
		itemsRow("1x", sum.Items, s.Items),
		Info("1x: snapshot items/s (wall clock)", "%.0f items/s (%.1fs, best of %d; %s)", run.WallItemsPerSecond(), run.WallSeconds, run.Runs, run.Other()),
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

// measureScaled runs the memory check: the snapshot of Scale times the
// items, with --ranges ScaleRanges (issue 14: 4,096), must stay under
// targetRSS and within targetRSSGrowth of the 1x peak (at auto).
func measureScaled(ctx context.Context, s Seeded, cfg Config, one SnapshotRun, haveOne bool, log io.Writer) []Row {
	name := fmt.Sprintf("%dx", cfg.Scale)
	fmt.Fprintf(log, "snapshot %s at --ranges %s: %s\n", name, cfg.ScaleRanges, s.Source())
	run, err := cfg.snapshot(ctx, s, name, "", "--ranges", cfg.ScaleRanges)
	if err != nil {
		return []Row{Failed(name+": snapshot", err)}
	}
	sum := run.Summary
	fmt.Fprintf(log, "  %.0f items/s wall (%.1fs), %.1f MB peak RSS, %d prefixes listed, %s\n", run.WallItemsPerSecond(), run.WallSeconds, float64(run.MaxRSSBytes)/(1<<20), sum.PrefixesListed, run.Other())
	rows := []Row{
		itemsRow(name, sum.Items, s.Items),
		Info(name+": snapshot items/s (wall clock)", "%.0f items/s (%.1fs; --ranges %s: %d prefixes, %d LIST requests, %d versions listed)",
			run.WallItemsPerSecond(), run.WallSeconds, cfg.ScaleRanges, sum.PrefixesListed, sum.ListRequests, sum.VersionsListed),
		Check(fmt.Sprintf("%s: peak RSS at --ranges %s", name, cfg.ScaleRanges), MB(run.MaxRSSBytes), "< "+MB(targetRSS), run.MaxRSSBytes < targetRSS),
	}
	if haveOne && one.MaxRSSBytes > 0 {
		g := float64(run.MaxRSSBytes) / float64(one.MaxRSSBytes)
		rows = append(rows, Check("peak RSS "+name+" / 1x", fmt.Sprintf("%.2f", g), fmt.Sprintf("<= %.1f", targetRSSGrowth), g <= targetRSSGrowth))
	}
	return rows
}

// measureProxy runs the snapshot of each table through the latency proxy:
// every request, listing included, pays the delay, as on AWS. Each is held
// against the raw ceiling through the same proxy, taken before and after
// its snapshot (the higher counts), so the ratio shows what the snapshot
// does with the latency rather than what the proxy allows.
func measureProxy(ctx context.Context, cl *s3.Client, tables []Seeded, endpoint string, cfg Config, log io.Writer) []Row {
	p, err := StartLatencyProxy(endpoint, cfg.Latency)
	if err != nil {
		return []Row{Failed(fmt.Sprintf("+%v latency: snapshot", cfg.Latency), err)}
	}
	defer p.Close()
	var rows []Row
	for _, s := range tables {
		rows = append(rows, proxyTable(ctx, cl, p, s, cfg, log)...)
	}
	return rows
}

func proxyTable(ctx context.Context, cl *s3.Client, p *LatencyProxy, s Seeded, cfg Config, log io.Writer) []Row {
	name := fmt.Sprintf("+%v, %d items x %d", cfg.Latency, s.Items, s.Versions)
	objs, err := LatestLive(ctx, cl, s.Location(s.Table))
	if err != nil {
		return []Row{Failed(name+": raw ceiling", err)}
	}
	var best Throughput
	ceiling := func(label string) error {
		c, err := proxyCeiling(ctx, s, objs, p.URL, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "  raw ceiling through the proxy (%s): %.0f items/s (%.2fs), %s\n", label, c.ItemsPerSecond(), c.Seconds, c.Other())
		if c.ItemsPerSecond() > best.ItemsPerSecond() {
			best = c
		}
		return nil
	}
	fmt.Fprintf(log, "snapshot through the %v latency proxy at %s: %s\n", cfg.Latency, p.URL, s.Source())
	if err := ceiling("before"); err != nil {
		return []Row{Failed(name+": raw ceiling", err)}
	}
	// As many ceilings as snapshots, split before and after them.
	n := tries(best.Seconds)
	for i := 2; i <= (n+1)/2; i++ {
		if err := ceiling(fmt.Sprintf("before, %d", i)); err != nil {
			return []Row{Failed(name+": raw ceiling", err)}
		}
	}
	before := p.Requests.Load()
	run, err := cfg.bestSnapshot(ctx, s, "proxy", p.URL, log)
	if err != nil {
		return []Row{Failed(name+": snapshot", err)}
	}
	through := p.Requests.Load() - before
	fmt.Fprintf(log, "  %d requests through the proxy (%d runs)\n", through, run.Runs)
	if through < int64(s.Items) {
		// The snapshot bypassed the proxy (it ignored --endpoint-url): the
		// figure would be a loopback figure.
		return []Row{Failed(name+": snapshot", fmt.Errorf("only %d requests went through the proxy for %d items: --endpoint-url was not used", through, s.Items))}
	}
	for i := 1; i <= n/2; i++ {
		label := "after"
		if i > 1 {
			label = fmt.Sprintf("after, %d", i)
		}
		if err := ceiling(label); err != nil {
			return []Row{Failed(name+": raw ceiling", err)}
		}
	}
	sum := run.Summary
	rate := run.WallItemsPerSecond()
	ratio := rate / best.ItemsPerSecond()
	rows := []Row{
		Info(name+": raw ceiling", "%.0f items/s (best of %d, %.2fs; %s)", best.ItemsPerSecond(), n, best.Seconds, best.Other()),
		Info(name+": ceiling bound by", "%s", boundBy(best, cfg.Concurrency)),
		itemsRow(name, sum.Items, s.Items),
		Info(name+": snapshot items/s", "%.0f items/s (%.2fs wall, best of %d; %d LIST requests, %d prefixes; %s)", rate, run.WallSeconds, run.Runs, sum.ListRequests, sum.PrefixesListed, run.Other()),
		Check(name+": ratio snapshot / ceiling", fmt.Sprintf("%.2f", ratio), fmt.Sprintf(">= %.1f", targetProxyRatio), ratio >= targetProxyRatio),
	}
	return append(rows, cpuRows(name, best, run)...)
}

// proxyCeiling is the GetObject loop of Ceiling with its requests sent
// through the proxy (listing, untimed, went direct), on a new client so
// that it starts without connections, as the snapshot process does.
func proxyCeiling(ctx context.Context, s Seeded, objs []ObjectVersion, proxyURL string, cfg Config) (Throughput, error) {
	clients, err := awsconf.Load(ctx, awsconf.Options{EndpointURL: proxyURL, MaxConns: cfg.Concurrency})
	if err != nil {
		return Throughput{}, err
	}
	return Ceiling(ctx, clients.S3(), s.Bucket, objs, cfg.Concurrency)
}

// cpuRows show where the CPU went, per item, in the ceiling and in the
// snapshot. Server and client share this machine's cores, so while both are
// CPU-bound the snapshot can reach at most (ceiling CPU per item) / (snapshot
// CPU per item) of the ceiling's rate, whatever its concurrency. The bench
// process's own CPU counts on both sides: the ceiling's GET loop and, through
// the latency proxy, the proxy's work (in the ceiling's client figure, and as
// "proxy" beside the snapshot's).
func cpuRows(name string, c Throughput, run SnapshotRun) []Row {
	if !c.ServerOK || !run.ServerOK || c.Items == 0 || run.Summary.Items == 0 {
		return nil
	}
	n := run.Summary.Items
	ceil := (c.ServerCPU + c.ClientCPU).Seconds() / float64(c.Items)
	snap := (run.ServerCPU + run.ClientCPU + run.BenchCPU).Seconds() / float64(n)
	snapCPU := fmt.Sprintf("server %s + client %s", perItem(run.ServerCPU, n), perItem(run.ClientCPU, n))
	if run.BenchCPU > run.WallDuration()/20 { // the proxy ran: over 5% of a core
		snapCPU += " + proxy " + perItem(run.BenchCPU, n)
	}
	rows := []Row{
		Info(name+": CPU per item, raw ceiling", "server %s + client %s", perItem(c.ServerCPU, c.Items), perItem(c.ClientCPU, c.Items)),
		Info(name+": CPU per item, snapshot", "%s", snapCPU),
	}
	if v := run.Summary.VersionsListed; v > 0 {
		// What the server spent beyond the GETs, spread over the versions
		// it listed: an estimate of its listing cost.
		gets := time.Duration(float64(c.ServerCPU) / float64(c.Items) * float64(run.Summary.GetObjectRequests))
		rows = append(rows, Info(name+": server CPU per listed version (est.)", "%s (%d versions for %d items)", perItem(run.ServerCPU-gets, v), v, n))
	}
	return append(rows, Info(name+": ratio the CPU allows", "%.2f (ceiling CPU per item / snapshot CPU per item; server and client share %d cores)", ceil/snap, runtime.NumCPU()))
}

// boundBy says whether a proxied ceiling was bound by the latency (as on
// AWS, where the server's CPU is not the client's) or by this machine's
// CPU, which server, proxy and client share: only in the first case does
// the ratio show how well the snapshot hides the latency.
func boundBy(c Throughput, inFlight int) string {
	rtt := time.Duration(float64(inFlight) / c.ItemsPerSecond() * float64(time.Second))
	what := fmt.Sprintf("%d in flight, %.1f ms a GET", inFlight, float64(rtt)/1e6)
	if !c.ServerOK || c.Seconds <= 0 {
		return what + "; CPU use unknown"
	}
	cores := (c.ServerCPU + c.ClientCPU).Seconds() / c.Seconds
	kind := "the latency"
	if cores > 0.75*float64(runtime.NumCPU()) {
		kind = "the CPU (lower -proxy-concurrency)"
	}
	return fmt.Sprintf("%s (%s; server and client used %.2f of %d cores)", kind, what, cores, runtime.NumCPU())
}
