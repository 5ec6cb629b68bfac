package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/history"
)

// Config is one bench run; cmd/main.go fills it from flags.
type Config struct {
	Bin             string
	Items           int     // the 1x dataset's live items
	Versions        int     // puts per item in the 1x dataset
	DeletedFraction float64 // extra deleted items in the 1x dataset, as a fraction of Items
	Scale           int     // the memory check's dataset has Scale x Items items (0: skip)
	ScaleVersions   int
	// ProxyItems is the larger table snapshotted through the latency
	// proxy (0: skip); the range table's dataset goes through it too.
	ProxyItems    int
	ProxyVersions int
	// RangeItems is the range table's dataset (0: skip): live items, with
	// Versions puts each and DeletedFraction of them deleted, like the 1x.
	RangeItems int
	// RangeCounts are the --ranges values of the range table.
	RangeCounts []string
	// ScaleRanges is the --ranges of the memory check's run.
	ScaleRanges string
	Latency     time.Duration
	Concurrency int // GetObject in flight, for the ceiling and the snapshot alike
	// ProxyConcurrency is Concurrency for the latency-proxy part: low
	// enough that its ceiling is bound by the latency, not by this
	// machine's CPU (server, proxy and client share it), as on AWS.
	ProxyConcurrency int
	SeedConcurrency  int
	WorkDir          string
	Timeout          time.Duration // per snapshot run
	Incremental      bool          // measure --base with 1% changed (issue 7)
	// IncrementalVersions is the versions per item of the incremental's
	// own dataset (Items items; 1% of them get a version more per run).
	IncrementalVersions int
	// AuditItems is the audit part's table (0: skip): live items, one
	// version each, in dynalite and in a per-item and a journal backup.
	AuditItems int
	// JournalIntervals is compact's --intervals in the journal part.
	JournalIntervals string
	// Only, if not empty, names the parts to measure: base, scale, ranges,
	// proxy, incremental, journal. Datasets the chosen parts need are
	// still seeded.
	Only map[string]bool
}

func (cfg Config) runs(part string) bool { return len(cfg.Only) == 0 || cfg.Only[part] }

// Targets of issue 3, and of issue 14 (key ranges by hex prefix).
const (
	targetRatio     = 0.8
	targetRSS       = 256 << 20
	targetRSSGrowth = 1.3
	// Through the latency proxy, a snapshot (listing included) against the
	// raw GET ceiling through the same proxy in the same run.
	targetProxyRatio = 0.9
	// The range table: 256 and 4,096 ranges within this factor of the
	// fastest count's wall time.
	targetRangeSpread = 1.2
)

// Run seeds what is missing, measures, and prints the report to w (progress
// to log). It returns an error only when it could not measure something.
func Run(ctx context.Context, cfg Config, w, log io.Writer) error {
	endpoint := os.Getenv("AWS_ENDPOINT_URL_S3")
	if err := requireLoopback(endpoint); err != nil {
		return err
	}
	progressLog = log
	if cfg.AuditItems > 0 && cfg.runs("audit") {
		if err := requireLoopback(os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")); err != nil {
			return fmt.Errorf("DynamoDB: %w", err)
		}
	}
	clients, err := awsconf.Load(ctx, awsconf.Options{MaxConns: max(cfg.Concurrency, cfg.SeedConcurrency)})
	if err != nil {
		return err
	}
	cl := clients.S3()
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return fmt.Errorf("bench work folder: %w", err)
	}

	var rows []Row
	base := NewDataset(cfg.Items, cfg.Versions, int(float64(cfg.Items)*cfg.DeletedFraction))
	// The 1x dataset, for the parts that read it.
	var one Seeded
	if cfg.runs("base") || cfg.runs("scale") || cfg.runs("journal") {
		if one, err = ensure(ctx, cl, base, cfg, log); err != nil {
			return err
		}
		rows = append(rows, seedRow("1x", one))
	}
	var scaled, ranged, incremental *Seeded
	if cfg.Scale > 0 && cfg.runs("scale") {
		s, err := ensure(ctx, cl, NewDataset(cfg.Scale*cfg.Items, cfg.ScaleVersions, 0), cfg, log)
		if err != nil {
			return err
		}
		scaled = &s
		rows = append(rows, seedRow(fmt.Sprintf("%dx", cfg.Scale), s))
	}
	if cfg.RangeItems > 0 && (cfg.runs("ranges") || cfg.runs("proxy")) {
		s, err := ensure(ctx, cl, NewDataset(cfg.RangeItems, cfg.Versions, int(float64(cfg.RangeItems)*cfg.DeletedFraction)), cfg, log)
		if err != nil {
			return err
		}
		ranged = &s
		rows = append(rows, seedRow("ranges", s))
	}
	if cfg.Incremental && cfg.runs("incremental") {
		s, err := ensure(ctx, cl, NewDataset(cfg.Items, max(1, cfg.IncrementalVersions), 0), cfg, log)
		if err != nil {
			return err
		}
		incremental = &s
		rows = append(rows, seedRow("incremental", s))
	}
	// The journal part's datasets: the 1x and the scale datasets' changes
	// as journal segments (the per-item 1x is the figure it is held to).
	var journal1, journal4 *Seeded
	if cfg.runs("journal") {
		s, err := EnsureJournal(ctx, cl, base, cfg.SeedConcurrency, log)
		if err != nil {
			return err
		}
		journal1 = &s
		rows = append(rows, seedRow("journal 1x", s))
		if cfg.Scale > 0 {
			s, err := EnsureJournal(ctx, cl, NewDataset(cfg.Scale*cfg.Items, cfg.ScaleVersions, 0), cfg.SeedConcurrency, log)
			if err != nil {
				return err
			}
			journal4 = &s
			rows = append(rows, seedRow(fmt.Sprintf("journal %dx", cfg.Scale), s))
		}
	}
	// The audit part's backups: the same changes per item and as a journal.
	var auditItems, auditJournal Seeded
	auditData := NewDataset(cfg.AuditItems, 1, 0)
	if cfg.AuditItems > 0 && cfg.runs("audit") {
		if auditItems, err = ensure(ctx, cl, auditData, cfg, log); err != nil {
			return err
		}
		rows = append(rows, seedRow("audit", auditItems))
		if auditJournal, err = EnsureJournal(ctx, cl, auditData, cfg.SeedConcurrency, log); err != nil {
			return err
		}
		rows = append(rows, seedRow("audit journal", auditJournal))
	}
	var proxied []Seeded
	if cfg.runs("proxy") {
		if ranged != nil {
			proxied = append(proxied, *ranged)
		}
		if cfg.ProxyItems > 0 {
			s, err := ensure(ctx, cl, NewDataset(cfg.ProxyItems, cfg.ProxyVersions, 0), cfg, log)
			if err != nil {
				return err
			}
			proxied = append(proxied, s)
			rows = append(rows, seedRow("proxy", s))
		}
	}

	waitServerIdle(ctx, 20*time.Minute, log)
	var oneRun SnapshotRun
	ok := false
	if cfg.runs("base") {
		var oneRows []Row
		oneRows, oneRun, ok = measureBase(ctx, cl, one, cfg, log)
		rows = append(rows, oneRows...)
	}
	if scaled != nil {
		rows = append(rows, measureScaled(ctx, *scaled, cfg, oneRun, ok, log)...)
	}
	var tables []string
	if ranged != nil && cfg.runs("ranges") {
		table, rangeRows := measureRanges(ctx, *ranged, cfg, log)
		tables = append(tables, table)
		rows = append(rows, rangeRows...)
	}
	if len(proxied) > 0 {
		pcfg := cfg
		pcfg.Concurrency = cfg.ProxyConcurrency
		rows = append(rows, measureProxy(ctx, cl, proxied, endpoint, pcfg, log)...)
	}
	if incremental != nil {
		rows = append(rows, measureIncremental(ctx, cl, *incremental, cfg, log)...)
	}
	if cfg.AuditItems > 0 && cfg.runs("audit") {
		rows = append(rows, measureAudit(ctx, clients, auditItems, auditJournal, auditData, cfg, log)...)
	}
	if cfg.runs("journal") {
		rows = append(rows, measureJournal(ctx, cl, one, journal1, journal4, endpoint, cfg, log)...)
	}

	fmt.Fprintf(w, "\ndynasnap snapshot benchmark (%d GetObject in flight, %d through the latency proxy; local SeaweedFS at %s)\n\n", cfg.Concurrency, cfg.ProxyConcurrency, endpoint)
	for _, t := range tables {
		fmt.Fprintln(w, t)
	}
	if _, failed := Report(w, rows); failed > 0 {
		return fmt.Errorf("%d figure(s) could not be measured", failed)
	}
	return nil
}

// requireLoopback keeps the bench off real AWS: it creates buckets and
// writes hundreds of thousands of objects.
func requireLoopback(endpoint string) error {
	u, err := url.Parse(endpoint)
	if endpoint == "" || err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
		return fmt.Errorf("AWS_ENDPOINT_URL_S3=%q: the bench runs only against the local stack on 127.0.0.1 (make bench starts it)", endpoint)
	}
	return nil
}

func ensure(ctx context.Context, cl *s3.Client, d Dataset, cfg Config, log io.Writer) (Seeded, error) {
	fmt.Fprintf(log, "dataset s3://%s: %d live items x %d versions, %d deleted items (%d writes)\n",
		d.Bucket, d.Items, d.Versions, d.Deleted, d.Writes())
	s, err := Ensure(ctx, cl, d, cfg.SeedConcurrency, log)
	if err != nil {
		return Seeded{}, err
	}
	if s.Reused {
		fmt.Fprintf(log, "  reusing %s, seeded %s in %.1fs\n", s.Source(), s.SeededAt.Format(time.RFC3339), s.SeedSeconds)
	} else {
		fmt.Fprintf(log, "  seeded %s in %.1fs (%.0f writes/s)\n", s.Source(), s.SeedSeconds, float64(d.Writes())/s.SeedSeconds)
	}
	return s, nil
}

func seedRow(name string, s Seeded) Row {
	how := "seeded now"
	if s.Reused {
		how = "reused, seeded earlier"
	}
	return Info("seeding "+name+" ("+strconv.Itoa(s.Items)+" items)", "%.1f s, %.0f writes/s (%s)",
		s.SeedSeconds, float64(s.Writes())/s.SeedSeconds, how)
}

// snapshotAt is the --at of a seeded table's snapshots: the second after
// the seeding ended (LastModified has whole-second precision, so every
// write is at or before it). A fixed past time, so that no run waits for
// the current second to end (the default --at does, up to two seconds
// that are no work), and every run reads the same state.
func snapshotAt(s Seeded) time.Time {
	return s.SeededAt.Truncate(time.Second).Add(time.Second)
}

// waitListable waits until a snapshot at t lists without waiting itself
// (history.Listable): only just after a seeding is that in the future.
func waitListable(ctx context.Context, t time.Time) {
	if d := time.Until(history.Listable(t, history.DefaultClockSkew)); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
}

// settle waits until a snapshot of s at snapshotAt(s) may start at once.
func settle(ctx context.Context, s Seeded) { waitListable(ctx, snapshotAt(s)) }

// bestSnapshot runs the snapshot tries(first run) times and keeps the
// fastest run, as the ceiling is taken as many times and the highest kept:
// a slow moment of a shared machine then weighs on neither side. Every
// run's rate goes to log. MaxRSSBytes of the result is the highest of the
// runs' peaks, Runs how many there were.
func (cfg Config) bestSnapshot(ctx context.Context, s Seeded, name, endpoint string, log io.Writer, extra ...string) (SnapshotRun, error) {
	return bestOf(log, func() (SnapshotRun, error) { return cfg.snapshot(ctx, s, name, endpoint, extra...) })
}

// bestOf calls once tries(first run) times and keeps the fastest run,
// every run's rate to log; MaxRSSBytes of the result is the highest of
// the runs' peaks, Runs how many there were.
func bestOf(log io.Writer, once func() (SnapshotRun, error)) (SnapshotRun, error) {
	var best SnapshotRun
	var rss int64
	n := 1
	for i := 1; i <= n; i++ {
		run, err := once()
		if err != nil {
			return SnapshotRun{}, err
		}
		fmt.Fprintf(log, "  run %d: %.0f items/s wall (%.2fs), %.1f MB peak RSS, %s\n", i, run.WallItemsPerSecond(), run.WallSeconds, float64(run.MaxRSSBytes)/(1<<20), run.Other())
		if i == 1 {
			n = tries(run.WallSeconds)
		}
		rss = max(rss, run.MaxRSSBytes)
		if best.WallSeconds == 0 || run.WallSeconds < best.WallSeconds {
			best = run
		}
	}
	best.MaxRSSBytes, best.Runs = rss, n
	return best, nil
}

// shortRun is the length under which a measurement is taken five times
// rather than twice: a run of a second or two moves by a tenth of its
// length with a pause of the shared machine, a run of a minute does not.
const shortRun = 5.0

// tries is how many times a measurement whose first run took seconds is
// taken, the snapshot and its ceiling alike.
func tries(seconds float64) int {
	if seconds < shortRun {
		return 5
	}
	return 2
}

func (cfg Config) snapshot(ctx context.Context, s Seeded, name, endpoint string, extra ...string) (SnapshotRun, error) {
	settle(ctx, s)
	return RunSnapshot(ctx, SnapshotOptions{
		Bin: cfg.Bin, Source: s.Source(), Concurrency: cfg.Concurrency, EndpointURL: endpoint, Timeout: cfg.Timeout,
		At: snapshotAt(s), Extra: extra,
		OutDir: filepath.Join(cfg.WorkDir, fmt.Sprintf("%s-%d", name, time.Now().UnixNano())),
	})
}

// itemsRow checks the snapshot returned every live item: a fast snapshot
// that drops items is no result.
func itemsRow(name string, got, want int) Row {
	return Check(name+": items in snapshot", strconv.Itoa(got), "= "+strconv.Itoa(want), got == want)
}
