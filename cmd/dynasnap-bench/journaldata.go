package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
)

// The journal datasets hold the same logical changes as the per-item
// datasets of the same figures (Dataset), written as the journal layout's
// stream writer writes them: one segment per batch of journalBatch changes
// (issue 24 measures at 500-change batches), under a descriptor recording
// journalLag.
const (
	journalBatch = 500
	// journalLag is the lag recorded in the bench's journals: small, so a
	// base can cover the writes a few seconds after them (a snapshot or a
	// compaction waits for the lag to pass), as the issue asks.
	journalLag = time.Second
	// benchStream is the stream ARN of every change the bench writes.
	benchStream = "arn:aws:dynamodb:us-east-1:123456789012:table/bench/stream/2026-01-01T00:00:00.000"
)

// journalDataset is d's journal twin: its own bucket, named after d's and
// the batch size, so that a change of either reseeds it.
func journalDataset(d Dataset) Dataset {
	d.Bucket += "-j" + strconv.Itoa(journalBatch)
	return d
}

// datasetChange is change k (0-based) of d in the order the per-item
// seeding makes them per key: every key's version 1, then every key's
// version 2, ..., then the deletes of the deleted keys. Across keys the
// per-item seeding interleaves in no fixed order; only each key's order
// counts for the state, and it is the same.
func datasetChange(d Dataset, k int) (i, v int, del bool) {
	puts := d.Keys() * d.Versions
	if k < puts {
		return k % d.Keys(), k/d.Keys() + 1, false
	}
	return d.Items + (k - puts), d.Versions, true
}

// benchSeq is the sequence number of change k: increasing with k, of a
// fixed width as DynamoDB's are.
func benchSeq(k int) string { return strconv.Itoa(100_000_000_000_000 + k) }

// keyRecord is the journal record of version v of item i (a REMOVE when
// del), made at at, with sequence number seq.
func keyRecord(i, v int, del bool, seq string, at time.Time) (journal.Record, error) {
	it := Item(i, v)
	id, err := item.KeyID(it, keyAttr)
	if err != nil {
		return journal.Record{}, fmt.Errorf("object id of item %d: %w", i, err)
	}
	keys, err := item.Marshal(item.Item{keyAttr: it[keyAttr]})
	if err != nil {
		return journal.Record{}, err
	}
	r := journal.Record{ID: id, TimeMs: at.UnixMilli(), Seq: seq, Stream: benchStream, Keys: keys}
	switch {
	case del:
		r.Event = journal.EventRemove
	case v == 1:
		r.Event = journal.EventInsert
	default:
		r.Event = journal.EventModify
	}
	if !del {
		if r.NewImage, err = item.Marshal(it); err != nil {
			return journal.Record{}, fmt.Errorf("encode item %d version %d: %w", i, v, err)
		}
	}
	return r, nil
}

// EnsureJournal returns d's journal twin, seeding it first unless an
// earlier run completed it (its marker, as Ensure's). It is never
// compacted: each measurement compacts a copy (copyJournal), so that the
// next run finds the same segments.
func EnsureJournal(ctx context.Context, cl *s3.Client, d Dataset, concurrency int, log io.Writer) (Seeded, error) {
	jd := journalDataset(d)
	fmt.Fprintf(log, "journal dataset s3://%s: the changes of %s (%d) as segments of %d\n", jd.Bucket, d.Bucket, d.Writes(), journalBatch)
	if m, ok, err := readMarker(ctx, cl, jd.Bucket); err != nil {
		return Seeded{}, err
	} else if ok && m.Dataset == jd {
		fmt.Fprintf(log, "  reusing %s, seeded %s in %.1fs\n", Seeded{Marker: m}.Source(), m.SeededAt.Format(time.RFC3339), m.SeedSeconds)
		return Seeded{Marker: m, Reused: true}, nil
	}
	if err := ensureBucket(ctx, cl, jd.Bucket); err != nil {
		return Seeded{}, err
	}
	table := "journal-" + strconv.FormatInt(time.Now().Unix(), 36)
	start := time.Now()
	if err := seedJournal(ctx, cl, jd, table, concurrency, log); err != nil {
		return Seeded{}, fmt.Errorf("seed %s: %w", jd.Location(table), err)
	}
	// A snapshot at SeededAt must not wait for the lag: the marker's time
	// is when the last segment's changes count (snapshotAt adds a second).
	m := Marker{Dataset: jd, Table: table, SeededAt: time.Now().UTC(), SeedSeconds: time.Since(start).Seconds()}
	if err := writeMarker(ctx, cl, m); err != nil {
		return Seeded{}, err
	}
	fmt.Fprintf(log, "  seeded %s in %.1fs (%.0f changes/s)\n", Seeded{Marker: m}.Source(), m.SeedSeconds, float64(d.Writes())/m.SeedSeconds)
	return Seeded{Marker: m}, nil
}

// seedJournal writes d's changes as segments: batches made in stream
// order by one goroutine (each change's time is when its batch is made),
// stored by concurrency writers through journal.WriteSegment, the
// writer's own call.
func seedJournal(ctx context.Context, cl *s3.Client, d Dataset, table string, concurrency int, log io.Writer) error {
	b := &journal.S3Bucket{Client: cl, Bucket: d.Bucket}
	dir := d.Location(table).Dir()
	if err := journal.EnsureDescriptor(ctx, b, dir, journalLag, "dynasnap-bench"); err != nil {
		return err
	}
	var written atomic.Int64
	done := make(chan struct{})
	go reportProgress(done, &written, int64(d.Writes()), log)
	defer close(done)
	g, gctx := errgroup.WithContext(ctx)
	// A short queue: a change's time is when its batch is made, and a
	// batch stored later than the lag after it is late (it still counts
	// from its store time, but the journal should look like a writer's).
	batches := make(chan []journal.Record, 4)
	g.Go(func() error {
		defer close(batches)
		for lo := 0; lo < d.Writes(); lo += journalBatch {
			at := time.Now()
			recs := make([]journal.Record, 0, journalBatch)
			for k := lo; k < min(lo+journalBatch, d.Writes()); k++ {
				i, v, del := datasetChange(d, k)
				r, err := keyRecord(i, v, del, benchSeq(k), at)
				if err != nil {
					return err
				}
				recs = append(recs, r)
			}
			select {
			case batches <- recs:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range min(concurrency, 16) {
		g.Go(func() error {
			for recs := range batches {
				if _, err := journal.WriteSegment(gctx, b, dir, recs, time.Now()); err != nil {
					return err
				}
				written.Add(int64(len(recs)))
			}
			return nil
		})
	}
	return g.Wait()
}

// copyJournal copies the journal of table folder from to table folder to
// in the same bucket, server-side, and returns how many objects it copied
// and when the last copy was stored. The copies' store times (which the
// time rule reads) are the copy's, so their changes count from then.
func copyJournal(ctx context.Context, cl *s3.Client, bucket, from, to string) (int, time.Time, error) {
	b := &journal.S3Bucket{Client: cl, Bucket: bucket}
	var keys []string
	if err := b.List(ctx, from+journal.Folder, "", func(o journal.Object) bool { keys = append(keys, o.Key); return true }); err != nil {
		return 0, time.Time{}, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for _, k := range keys {
		g.Go(func() error {
			dst := to + k[len(from):]
			_, err := cl.CopyObject(gctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String(dst),
				CopySource: aws.String(url.PathEscape(bucket) + "/" + escapeKey(k))})
			if err != nil {
				return fmt.Errorf("copy s3://%s/%s to %s: %w", bucket, k, dst, err)
			}
			return nil
		})
	}
	err := g.Wait()
	return len(keys), time.Now(), err
}

// escapeKey escapes each path element of an object key for CopySource.
func escapeKey(k string) string {
	out := make([]byte, 0, len(k))
	start := 0
	for i := 0; i <= len(k); i++ {
		if i == len(k) || k[i] == '/' {
			out = append(out, url.PathEscape(k[start:i])...)
			if i < len(k) {
				out = append(out, '/')
			}
			start = i + 1
		}
	}
	return string(out)
}

// deleteFolder deletes every object under prefix (best effort: a run's
// copy, once measured).
func deleteFolder(ctx context.Context, cl *s3.Client, bucket, prefix string) {
	b := &journal.S3Bucket{Client: cl, Bucket: bucket}
	var keys []string
	if err := b.List(ctx, prefix, "", func(o journal.Object) bool { keys = append(keys, o.Key); return true }); err != nil {
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			b.Delete(ctx, k) //nolint:errcheck // best effort
		})
	}
	wg.Wait()
}
