package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// rangeRun is one row of the range table.
type rangeRun struct {
	ranges string
	run    SnapshotRun
	err    error
}

// measureRanges runs the range table of issue 14: the same small snapshot
// at each --ranges of cfg.RangeCounts, the best wall time of a few runs each (tries). Key ranges
// are hex prefixes of the object id, listed by Prefix and split only when a
// prefix's first page is truncated, so on a small table every count must
// cost about the same: the checks are that 256 and more ranges stay within
// targetRangeSpread of the fastest, and that every run lists exactly the
// versions seeded (nothing read past a range's end, nothing twice). It
// returns the table, printed above the report, and the rows with targets.
func measureRanges(ctx context.Context, s Seeded, cfg Config, log io.Writer) (string, []Row) {
	runs := make([]rangeRun, 0, len(cfg.RangeCounts))
	for _, n := range cfg.RangeCounts {
		fmt.Fprintf(log, "snapshot %d items at --ranges %s: %s\n", s.Items, n, s.Source())
		run, err := cfg.bestSnapshot(ctx, s, "ranges-"+n, "", log, "--ranges", n)
		runs = append(runs, rangeRun{ranges: n, run: run, err: err})
	}
	fastest := 0.0
	for _, r := range runs {
		if r.err == nil && (fastest == 0 || r.run.WallSeconds < fastest) {
			fastest = r.run.WallSeconds
		}
	}

	stored := s.Writes() // versions and delete markers
	var b strings.Builder
	most := 0
	for _, r := range runs {
		most = max(most, r.run.Runs)
	}
	fmt.Fprintf(&b, "range table: %d items (%d versions and delete markers stored), --at %s, best of %d\n\n",
		s.Items, stored, snapshotAt(s).UTC().Format("2006-01-02T15:04:05Z"), most)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "--ranges\twall\titems/s\tversions listed\tLIST requests\tprefixes\tdata files\tpeak RSS\t/ fastest\t")
	var rows []Row
	for _, r := range runs {
		name := "ranges " + r.ranges
		if r.err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t\n", r.ranges)
			rows = append(rows, Failed(name+": snapshot", r.err))
			continue
		}
		sum := r.run.Summary
		spread := r.run.WallSeconds / fastest
		fmt.Fprintf(tw, "%s\t%.2f s\t%.0f\t%d\t%d\t%d\t%d\t%s\t%.2f\t\n", r.ranges, r.run.WallSeconds, r.run.WallItemsPerSecond(),
			sum.VersionsListed, sum.ListRequests, sum.PrefixesListed, sum.DataFiles, MB(r.run.MaxRSSBytes), spread)
		rows = append(rows,
			itemsRow(name, sum.Items, s.Items),
			Check(name+": versions listed", fmt.Sprintf("%d (%d after --at, %d repeats dropped)", sum.VersionsListed, sum.VersionsAfterExportTime, sum.RepeatsDropped),
				fmt.Sprintf("= %d stored", stored), sum.VersionsListed == stored))
		if n, err := strconv.Atoi(r.ranges); err == nil && n >= 256 {
			rows = append(rows, Check(name+": wall time / fastest", fmt.Sprintf("%.2f (%.2fs vs %.2fs)", spread, r.run.WallSeconds, fastest),
				fmt.Sprintf("<= %.1f", targetRangeSpread), spread <= targetRangeSpread))
		}
	}
	tw.Flush()
	return b.String(), rows
}
