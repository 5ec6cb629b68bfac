package main

import (
	"context"
	"fmt"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/tabledef"
	"github.com/dynasnap/dynasnap/internal/verify"
)

const verifyExamples = `  # check a restored table against the snapshot it came from
  # (dynasnap drill does restore + verify + clean-up in one go, with RPO/RTO figures)
  dynasnap restore --snapshot s3://exports/orders/nightly --table orders-restored --create-table --quiet
  dynasnap verify --snapshot s3://exports/orders/nightly --table orders-restored

  # machine-readable result; exit status 3 if the table differs
  dynasnap verify --snapshot ./orders-snap --table orders --json`

// verifyDiffers is verify's exit status when the table and snapshot differ.
const verifyDiffers = 3

func cmdVerify(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "verify", "verify --snapshot SNAP --table NAME [flags]", verifyExamples)
	snap := fs.String("snapshot", "", "the snapshot folder: a local path or s3://bucket/prefix (required)")
	table := fs.String("table", "", "the DynamoDB table to compare with it (required)")
	segments := fs.Int("segments", 8, "parallel Scan segments")
	readers := fs.Int("readers", 4, "snapshot data files read at once")
	examples := fs.Int("examples", 10, "keys shown of each kind of difference")
	skipDef := fs.Bool("skip-definition", false, "compare the items only, not the table's definition with the snapshot's table-definition.json (for a table restored with --billing-mode or the like)")
	eventual := fs.Bool("eventually-consistent", false, "scan with eventually consistent reads (half the read cost; may miss the latest writes)")
	a.opts.Add(fs)
	a.opts.AddJSON(fs)
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *snap == "" || *table == "" {
		return usageError{"--snapshot and --table are required"}
	}
	if *segments < 1 || *segments > 1000000 {
		return usageError{"--segments must be between 1 and 1,000,000"}
	}
	// Last of the flag checks, so a test of another flag may name any table.
	if err := checkTableName("--table", *table); err != nil {
		return err
	}
	clients, err := loadAWS(ctx, &awsOpts, *segments+*readers+8)
	if err != nil {
		return err
	}
	st, err := openSnapshotStore(clients.Source(), *snap)
	if err != nil {
		return usageError{fmt.Sprintf("--snapshot: %v", err)}
	}
	s, err := snapshot.Open(ctx, st)
	if err != nil {
		return err
	}
	ddb := clients.DynamoDB()
	ks, err := keyschema.FromTable(ctx, ddb, *table)
	if err != nil {
		return err
	}
	rec, err := s.Definition(ctx)
	if err != nil {
		return err
	}
	var expired func(item.Item) bool
	if rec != nil {
		expired = tabledef.NewExpiry(rec.TTLAttribute(), time.Now()).Item
	}
	read := &progress.Counter{Name: "snapshot items read"}
	read.SetTotal(s.Summary.ItemCount)
	scanned := &progress.Counter{Name: "table items scanned"}
	rep := progress.New(a.term, a.opts.Quiet, read, scanned)
	rep.Start(ctx)
	r, err := verify.Run(ctx, s, ddb, verify.Options{Table: *table, Schema: ks, Segments: *segments, Readers: *readers,
		Examples: *examples, EventualRead: *eventual, Read: read, Scanned: scanned, Expired: expired})
	rep.Stop()
	if err != nil {
		return err
	}
	if !*skipDef {
		if r.Definition, err = verify.Definition(ctx, ddb, tabledef.Services{Scaling: clients.ApplicationAutoScaling(), Lambda: clients.Lambda()}, *table, rec); err != nil {
			return err
		}
	}
	if a.opts.JSON {
		if err := a.out.JSON(r); err != nil {
			return err
		}
	} else {
		printVerify(a, r)
	}
	if !r.Equal() {
		return exitError{verifyDiffers, fmt.Errorf("table %s differs from the snapshot: %d missing, %d extra, %d different", *table, r.Missing, r.Extra, r.Different)}
	}
	if !r.Definition.Equal() {
		return exitError{verifyDiffers, fmt.Errorf("table %s's definition differs from the recorded one in %d ways", *table, len(r.Definition.Differences))}
	}
	return nil
}

func printVerify(a *app, r *verify.Report) {
	fmt.Fprintf(a.stdout, "snapshot %s (at %s): %d items\n", r.Snapshot, r.ExportTime.UTC().Format(time.RFC3339), r.SnapshotItems)
	fmt.Fprintf(a.stdout, "table %s: %d items\n", r.Table, r.TableItems)
	fmt.Fprintf(a.stdout, "missing %d, extra %d, different %d\n", r.Missing, r.Extra, r.Different)
	if r.ExpiredAbsent > 0 {
		fmt.Fprintf(a.stdout, "%d snapshot items past their TTL time are not in the table (restore skips them unless --keep-expired)\n", r.ExpiredAbsent)
	}
	for _, g := range []struct {
		name string
		n    int64
		keys []string
	}{{"missing (in the snapshot, not in the table)", r.Missing, r.MissingKeys},
		{"extra (in the table, not in the snapshot)", r.Extra, r.ExtraKeys},
		{"different", r.Different, r.DifferentKeys}} {
		if g.n == 0 {
			continue
		}
		more := ""
		if int64(len(g.keys)) < g.n {
			more = fmt.Sprintf(" (first %d of %d)", len(g.keys), g.n)
		}
		fmt.Fprintf(a.stdout, "%s%s:\n", g.name, more)
		for _, k := range g.keys {
			fmt.Fprintf(a.stdout, "  %s\n", k)
		}
	}
	if d := r.Definition; d != nil && d.Recorded {
		if d.Equal() {
			fmt.Fprintln(a.stdout, "definition: key, indexes, TTL attribute and billing mode as recorded")
			fmt.Fprintln(a.stdout, "settings: stream, resource policy, Contributor Insights and auto scaling as recorded (where both sides could read them; replicas and Kinesis destinations when the table has any)")
		} else {
			fmt.Fprintf(a.stdout, "definition differs from the recorded one:\n")
			for _, x := range d.Differences {
				fmt.Fprintf(a.stdout, "  %s\n", x)
			}
		}
	} else if d != nil {
		fmt.Fprintln(a.stdout, "definition: not compared, the snapshot records none")
	}
	if r.Equal() && r.Definition.Equal() {
		fmt.Fprintf(a.stdout, "OK: the table equals the snapshot (%.1fs)\n", r.Seconds)
	}
}
