package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/awsconf"
)

// targetAuditRatio: audit's items/s against a bare parallel Scan of the
// same table in the same run (issue 26).
const targetAuditRatio = 0.7

// auditSegments is the Scan's TotalSegments, for the ceiling and the
// audit alike.
const auditSegments = 8

// auditRuns is how often each layout's audit runs, the fastest counting:
// as many as the ceiling's bare Scans (two before, one after each
// layout's runs), whose highest counts, so neither side gets more draws
// from the shared machine's noise than the other.
const auditRuns = 4

// auditTable is the live table of the audit part: the audit dataset's
// final state, in dynalite.
func auditTable(d Dataset) string { return "dynasnap-bench-audit-" + short(d.Items) }

// auditSummary is the part of `dynasnap audit --json` the bench reads.
type auditSummary struct {
	ItemsScanned int64   `json:"itemsScanned"`
	BackupKeys   int64   `json:"backupKeys"`
	BackupReads  int64   `json:"backupReads"`
	Rechecked    int64   `json:"rechecked"`
	Missing      int64   `json:"missing"`
	Different    int64   `json:"different"`
	Extra        int64   `json:"extra"`
	Seconds      float64 `json:"seconds"`
}

// measureAudit seeds the live table (once: dynalite keeps it), then times
// a bare parallel Scan of it (the ceiling, before and after, the higher
// counts) and `dynasnap audit` against the per-item backup and the journal
// of the same changes, each the faster of two runs.
func measureAudit(ctx context.Context, clients *awsconf.Clients, perItem, journal Seeded, d Dataset, cfg Config, log io.Writer) []Row {
	ddb := clients.DynamoDB()
	table := auditTable(d)
	fmt.Fprintf(log, "audit: table %s (%d items, dynalite) against %s and %s\n", table, d.Items, perItem.Source(), journal.Source())
	if err := ensureAuditTable(ctx, ddb, table, d, log); err != nil {
		return []Row{Failed("audit: live table", err)}
	}
	// The ceiling is taken twice before, and once after each audit's
	// runs; the highest counts (a slow moment of the shared machine then
	// weighs on neither side).
	var ceiling scanRun
	scans := 0
	scan := func() error {
		c, err := bareScan(ctx, ddb, table)
		if err != nil {
			return err
		}
		scans++
		fmt.Fprintf(log, "  bare Scan: %.0f items/s (%.2fs), %s\n", c.ItemsPerSecond(), c.Seconds, c.Other())
		if c.ItemsPerSecond() > ceiling.ItemsPerSecond() {
			ceiling = c
		}
		return nil
	}
	for range 2 {
		if err := scan(); err != nil {
			return []Row{Failed("audit: bare parallel Scan", err)}
		}
	}
	type measured struct {
		name string
		best auditRun
	}
	var runs []measured
	for _, b := range []struct {
		name string
		s    Seeded
	}{{"per-item", perItem}, {"journal", journal}} {
		var best *auditRun
		for i := 1; i <= auditRuns; i++ {
			r, err := runAudit(ctx, cfg, b.s, table)
			if err != nil {
				return []Row{Failed("audit ("+b.name+")", err)}
			}
			fmt.Fprintf(log, "  audit (%s) run %d: %.0f items/s wall (%.2fs), %s\n", b.name, i, r.ItemsPerSecond(), r.Wall.Seconds(), r.Other())
			if best == nil || r.Wall < best.Wall {
				best = &r
			}
		}
		runs = append(runs, measured{b.name, *best})
		if err := scan(); err != nil {
			return []Row{Failed("audit: bare parallel Scan", err)}
		}
	}
	// The per-item layout's audit lists every stored version, beside the
	// scan: a bare listing of the same folder, best of two, says which of
	// its two reads bounds it.
	var listing scanRun
	for range 2 {
		l, err := bareListing(ctx, clients.S3(), perItem)
		if err != nil {
			return []Row{Failed("audit: bare listing", err)}
		}
		fmt.Fprintf(log, "  bare listing of %s: %.0f versions/s (%.2fs), %s\n", perItem.Source(), l.ItemsPerSecond(), l.Seconds, l.Other())
		if l.ItemsPerSecond() > listing.ItemsPerSecond() {
			listing = l
		}
	}
	rows := []Row{Info("audit: bare parallel Scan (ceiling)", "%.0f items/s (%d segments, consistent reads; best of %d)", ceiling.ItemsPerSecond(), auditSegments, scans),
		Info("audit: bare listing of the per-item backup", "%.0f versions/s (ListObjectVersions by %d prefixes, %d in flight; best of 2)", listing.ItemsPerSecond(), listingPrefixes, listingInFlight)}
	for _, m := range runs {
		best := m.best
		ratio := best.ItemsPerSecond() / ceiling.ItemsPerSecond()
		drift := best.Sum.Missing + best.Sum.Different + best.Sum.Extra
		rows = append(rows,
			Info("audit ("+m.name+"): items/s", "%.0f (%.2fs wall, best of %d; %d items, %d backup keys, %d GETs, %d read again)", best.ItemsPerSecond(), best.Wall.Seconds(), auditRuns, best.Sum.ItemsScanned, best.Sum.BackupKeys, best.Sum.BackupReads, best.Sum.Rechecked),
			Check("audit ("+m.name+"): ratio to the bare Scan", fmt.Sprintf("%.2f", ratio), fmt.Sprintf(">= %.1f", targetAuditRatio), ratio >= targetAuditRatio),
			Check("audit ("+m.name+"): drift on a complete backup", fmt.Sprint(drift), "= 0", drift == 0),
			Check("audit ("+m.name+"): items scanned", fmt.Sprint(best.Sum.ItemsScanned), fmt.Sprintf("= %d", d.Items), best.Sum.ItemsScanned == int64(d.Items)))
	}
	if len(runs) > 0 && listing.ItemsPerSecond() > 0 {
		slower := min(ceiling.ItemsPerSecond(), listing.ItemsPerSecond())
		rows = append(rows, Info("audit (per-item): ratio to the slower of its two reads", "%.2f (the bare listing is %.2f of the bare Scan)",
			runs[0].best.ItemsPerSecond()/slower, listing.ItemsPerSecond()/ceiling.ItemsPerSecond()))
	}
	return rows
}

// listingPrefixes and listingInFlight shape the bare listing: the
// object ids' first two hex digits, as the key ranges of the audit's walk.
const (
	listingPrefixes = 256
	listingInFlight = 32
)

// bareListing lists every version and delete marker of a per-item
// backup folder, by id prefix, several prefixes at once, and counts them.
func bareListing(ctx context.Context, cl *s3.Client, s Seeded) (scanRun, error) {
	dir := s.Location(s.Table).Dir()
	return timedCount(ctx, listingInFlight, listingPrefixes, func(gctx context.Context, i int, n *atomic.Int64) error {
		p := s3.NewListObjectVersionsPaginator(cl, &s3.ListObjectVersionsInput{Bucket: aws.String(s.Bucket), Prefix: aws.String(fmt.Sprintf("%s%02x", dir, i))})
		for p.HasMorePages() {
			out, err := p.NextPage(gctx)
			if err != nil {
				return fmt.Errorf("list versions s3://%s/%s: %w", s.Bucket, dir, err)
			}
			n.Add(int64(len(out.Versions) + len(out.DeleteMarkers)))
		}
		return nil
	})
}

// timedCount times tasks 0..tasks-1 of one loop, inFlight at once (0:
// all), counting what they add to n, with the other processes' load
// beside it, once the machine is quiet: the audit part's bare loops.
func timedCount(ctx context.Context, inFlight, tasks int, task func(ctx context.Context, i int, n *atomic.Int64) error) (scanRun, error) {
	waitQuiet(ctx)
	other := startOther()
	start := time.Now()
	var n atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	if inFlight > 0 {
		g.SetLimit(inFlight)
	}
	for i := range tasks {
		g.Go(func() error { return task(gctx, i, &n) })
	}
	err := g.Wait()
	r := scanRun{Items: n.Load(), Seconds: time.Since(start).Seconds()}
	r.OtherCPU, r.OtherOK = other.stop(0)
	return r, err
}

// ensureAuditTable creates and fills the table with every live item's
// last version, unless it already holds them all.
func ensureAuditTable(ctx context.Context, ddb *dynamodb.Client, table string, d Dataset, log io.Writer) error {
	_, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var nf *types.ResourceNotFoundException
	switch {
	case err == nil && countItems(ctx, ddb, table) == int64(d.Items):
		fmt.Fprintf(log, "  reusing table %s\n", table)
		return nil
	case err == nil:
		if _, err := ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
			return err
		}
		if err := dynamodb.NewTableNotExistsWaiter(ddb).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
			return err
		}
	case !errors.As(err, &nf):
		return err
	}
	_, err = ddb.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(keyAttr), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(keyAttr), KeyType: types.KeyTypeHash}}})
	if err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	if err := dynamodb.NewTableExistsWaiter(ddb).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		return err
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for lo := 0; lo < d.Items; lo += 25 {
		g.Go(func() error {
			var reqs []types.WriteRequest
			for i := lo; i < min(lo+25, d.Items); i++ {
				reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: Item(i, d.Versions)}})
			}
			for len(reqs) > 0 {
				out, err := ddb.BatchWriteItem(gctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
				if err != nil {
					return fmt.Errorf("fill table %s: %w", table, err)
				}
				reqs = out.UnprocessedItems[table]
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Fprintf(log, "  filled table %s in %.1fs\n", table, time.Since(start).Seconds())
	return nil
}

// countItems counts a table's items (Select COUNT: DescribeTable's
// ItemCount is refreshed only every six hours on AWS); -1 on an error.
func countItems(ctx context.Context, ddb *dynamodb.Client, table string) int64 {
	var n int64
	p := dynamodb.NewScanPaginator(ddb, &dynamodb.ScanInput{TableName: aws.String(table), Select: types.SelectCount})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return -1
		}
		n += int64(out.Count)
	}
	return n
}

// scanRun is a timed bare Scan.
type scanRun struct {
	Items    int64
	Seconds  float64
	OtherCPU time.Duration
	OtherOK  bool
}

func (r scanRun) ItemsPerSecond() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Items) / r.Seconds
}
func (r scanRun) Other() string {
	if !r.OtherOK {
		return "other load unknown"
	}
	return "other processes " + load(r.OtherCPU, r.Seconds)
}

// bareScan is the ceiling: the audit's Scan with nothing else, the same
// segments, consistent reads, every page read to the end. dynalite's CPU
// shows as the others' load in the log.
func bareScan(ctx context.Context, ddb *dynamodb.Client, table string) (scanRun, error) {
	return timedCount(ctx, 0, auditSegments, func(gctx context.Context, seg int, n *atomic.Int64) error {
		in := &dynamodb.ScanInput{TableName: aws.String(table), Segment: aws.Int32(int32(seg)), TotalSegments: aws.Int32(auditSegments),
			ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal}
		for {
			out, err := ddb.Scan(gctx, in)
			if err != nil {
				return fmt.Errorf("scan %s: %w", table, err)
			}
			n.Add(int64(len(out.Items)))
			if len(out.LastEvaluatedKey) == 0 {
				return nil
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	})
}

// auditRun is one `dynasnap audit` subprocess.
type auditRun struct {
	Wall     time.Duration
	Sum      auditSummary
	OtherCPU time.Duration
	OtherOK  bool
}

// asScan is the run as a scanRun, for its rate and its load.
func (r auditRun) asScan() scanRun {
	return scanRun{Items: r.Sum.ItemsScanned, Seconds: r.Wall.Seconds(), OtherCPU: r.OtherCPU, OtherOK: r.OtherOK}
}
func (r auditRun) ItemsPerSecond() float64 { return r.asScan().ItemsPerSecond() }
func (r auditRun) Other() string           { return r.asScan().Other() }

// runAudit runs the audit as a subprocess and times it from start to exit.
// Not retried when disturbed, as the snapshot runs are: dynalite's CPU
// is the audit's own work here, and the meter counts it as others'.
func runAudit(ctx context.Context, cfg Config, s Seeded, table string) (auditRun, error) {
	waitQuiet(ctx)
	var stdout, stderr bytes.Buffer
	other := startOther()
	sh, err := runShimmed(ctx, cfg.Bin, []string{"audit", "--source", s.Source(), "--table", table, "--segments", fmt.Sprint(auditSegments),
		"--concurrency", fmt.Sprint(cfg.Concurrency), "--json", "--quiet"}, &stdout, &stderr)
	r := auditRun{Wall: sh.Wall}
	r.OtherCPU, r.OtherOK = other.stop(sh.CPU)
	if err != nil {
		return r, fmt.Errorf("audit %s: %w: %s", s.Source(), err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), &r.Sum); err != nil {
		return r, fmt.Errorf("audit --json: %w: %s", err, stdout.String())
	}
	return r, nil
}
