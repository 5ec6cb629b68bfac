package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

// Targets of issue 7: with 1% of the items changed since the base, an
// incremental snapshot makes at most 2% of a full one's GETs and takes under
// 25% of its time.
const (
	changedFraction     = 0.01
	targetIncGetRatio   = 0.02
	targetIncTimeRatio  = 0.25
	incrementalVersion0 = 1000 // versions written by this measure start here
)

// measureIncremental takes a full snapshot of the dataset as a base, changes
// 1% of its items (one new version each), then takes a full and an
// incremental snapshot of the same moment, twice each, and compares the
// faster of each. The changes stay in the dataset: each bench run adds one
// version to 1% of the items.
func measureIncremental(ctx context.Context, cl *s3.Client, d Seeded, cfg Config, log io.Writer) []Row {
	dir, err := os.MkdirTemp(cfg.WorkDir, "incremental-")
	if err != nil {
		return []Row{Failed("incremental snapshot", err)}
	}
	defer os.RemoveAll(dir)
	// Every run gets an explicit past --at that it need not wait for: the
	// default (the current second) would add up to two seconds of waiting
	// to each, which weighs on the short incremental run most.
	opts := func(out string, at time.Time, extra ...string) SnapshotOptions {
		return SnapshotOptions{Bin: cfg.Bin, Source: d.Source(), OutDir: filepath.Join(dir, out), Concurrency: cfg.Concurrency,
			Timeout: cfg.Timeout, Keep: out == "base", At: at, Extra: extra}
	}
	settle(ctx, d)
	baseAt := time.Now().Truncate(time.Second).Add(-2 * time.Second)
	fmt.Fprintln(log, "incremental: base snapshot at", baseAt.UTC().Format(time.RFC3339))
	if _, err := RunSnapshot(ctx, opts("base", baseAt)); err != nil {
		return []Row{Failed("incremental snapshot", err)}
	}
	// Changes stamped after the base's time: wait for the next second.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
	changed := max(1, int(float64(d.Items)*changedFraction))
	fmt.Fprintf(log, "incremental: changing %d of %d items\n", changed, d.Items)
	if err := changeItems(ctx, cl, d, changed, cfg.SeedConcurrency); err != nil {
		return []Row{Failed("incremental snapshot", err)}
	}
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
	at := time.Now().Truncate(time.Second).Add(-time.Second)
	waitListable(ctx, at)
	fmt.Fprintln(log, "incremental: full and incremental snapshots at", at.UTC().Format(time.RFC3339))
	// Full and incremental twice each, in turn; the faster of each counts,
	// as elsewhere in the bench: a slow moment of a shared machine then
	// weighs on neither side.
	var full, inc SnapshotRun
	for i := 1; i <= 2; i++ {
		f, err := RunSnapshot(ctx, opts(fmt.Sprintf("full-%d", i), at))
		if err != nil {
			return []Row{Failed("incremental snapshot", err)}
		}
		n, err := RunSnapshot(ctx, opts(fmt.Sprintf("inc-%d", i), at, "--base", filepath.Join(dir, "base")))
		if err != nil {
			return []Row{Failed("incremental snapshot", err)}
		}
		fmt.Fprintf(log, "  run %d: full %.2fs, incremental %.2fs\n", i, f.WallSeconds, n.WallSeconds)
		if i == 1 || f.WallSeconds < full.WallSeconds {
			full = f
		}
		if i == 1 || n.WallSeconds < inc.WallSeconds {
			inc = n
		}
	}
	if inc.Summary.Items != full.Summary.Items {
		return []Row{Failed("incremental snapshot", fmt.Errorf("incremental has %d items, full %d", inc.Summary.Items, full.Summary.Items))}
	}
	getRatio := float64(inc.Summary.GetObjectRequests) / float64(max(1, full.Summary.GetObjectRequests))
	timeRatio := inc.WallSeconds / full.WallSeconds
	return []Row{
		Check("incremental GETs (1% changed)", fmt.Sprintf("%d vs %d full (%.2f%%)", inc.Summary.GetObjectRequests, full.Summary.GetObjectRequests, 100*getRatio),
			fmt.Sprintf("<= %.0f%%", 100*targetIncGetRatio), getRatio <= targetIncGetRatio),
		Check("incremental time (1% changed)", fmt.Sprintf("%.2fs vs %.2fs full (%.1f%%, best of 2 each; %d versions listed)", inc.WallSeconds, full.WallSeconds, 100*timeRatio, inc.Summary.VersionsListed),
			fmt.Sprintf("< %.0f%%", 100*targetIncTimeRatio), timeRatio < targetIncTimeRatio),
	}
}

// changeItems writes a new version of every 1/fraction-th live item.
func changeItems(ctx context.Context, cl *s3.Client, d Seeded, n, concurrency int) error {
	loc := d.Location(d.Table)
	step := max(1, d.Items/n)
	v := incrementalVersion0 + int(time.Now().Unix()%100000)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i := 0; i < d.Items && n > 0; i += step {
		n--
		g.Go(func() error {
			id, body, err := encodeItem(i, v)
			if err != nil {
				return err
			}
			_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.ObjectKey(id)), Body: bytes.NewReader(body)})
			return err
		})
	}
	return g.Wait()
}
