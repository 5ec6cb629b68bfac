package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/stream"
)

// writerBucket holds the writer measurement's tables: a fresh table per
// run, so the per-item writer's checks (a HEAD per key) meet the same empty
// folder every time.
const writerBucket = "dynasnap-bench-writer"

// writerBatch is one stream batch: the event the Lambda gets.
type writerBatch struct {
	event stream.Event
}

// writerBatches makes n changes of a table of keys items in batches of
// journalBatch, as DynamoDB Streams would deliver them: first an INSERT of
// every key, then random changes, a fifth of them REMOVEs (and an INSERT
// after one). Deterministic, so every run writes the same changes.
func writerBatches(n, keys int, table string) ([]writerBatch, error) {
	rng := rand.New(rand.NewPCG(24, 500))
	live := make([]bool, keys)
	version := make([]int, keys)
	arn := strings.Replace(benchStream, "table/bench/", "table/"+table+"/", 1)
	start := time.Now().Add(-time.Minute)
	var out []writerBatch
	for k := range n {
		if k%journalBatch == 0 {
			out = append(out, writerBatch{})
		}
		b := &out[len(out)-1]
		i := k
		if k >= keys {
			i = rng.IntN(keys)
		}
		event := "INSERT"
		switch {
		case live[i] && rng.IntN(5) == 0:
			event = "REMOVE"
		case live[i]:
			event = "MODIFY"
		}
		version[i]++
		live[i] = event != "REMOVE"
		at := start.Add(time.Duration(k) * time.Millisecond)
		seq := benchSeq(k)
		rec, err := keyRecord(i, version[i], event == "REMOVE", seq, at)
		if err != nil {
			return nil, err
		}
		rec.Event = event
		rec.Stream = arn
		r := stream.Record{EventID: strconv.Itoa(k), EventName: event, EventSource: "aws:dynamodb", EventSourceARN: arn, AWSRegion: "us-east-1",
			Change: stream.StreamRecord{
				ApproximateCreationDateTime: json.Number(strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)),
				Keys:                        rec.Keys, NewImage: rec.NewImage, SequenceNumber: seq, StreamViewType: "NEW_AND_OLD_IMAGES",
				SizeBytes: int64(len(rec.Keys) + len(rec.NewImage)),
			}}
		if event != "INSERT" {
			// The old image DynamoDB sends (the writer ignores it).
			if old, err := item.Marshal(Item(i, max(1, version[i]-1))); err == nil {
				r.Change.OldImage = old
			}
		}
		b.event.Records = append(b.event.Records, r)
	}
	return out, nil
}

// writerChanges and writerKeys are the writer measurement's changes: as in
// the issue, 5,000 changes in 10 batches of 500, here over 2,000 keys.
const (
	writerChanges = 5000
	writerKeys    = 2000
)

// measureJournalWriter counts the S3 requests of the stream writer for the
// same changes in both layouts, through a proxy that counts them by kind.
func measureJournalWriter(ctx context.Context, cl *s3.Client, endpoint string, log io.Writer) []Row {
	const name = "journal writer"
	p, err := StartLatencyProxy(endpoint, 0)
	if err != nil {
		return []Row{Failed(name, err)}
	}
	defer p.Close()
	pc, err := awsconf.Load(ctx, awsconf.Options{EndpointURL: p.URL, MaxConns: 64})
	if err != nil {
		return []Row{Failed(name, err)}
	}
	if err := ensureBucket(ctx, cl, writerBucket); err != nil {
		return []Row{Failed(name, err)}
	}
	table := "w-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	batches, err := writerBatches(writerChanges, writerKeys, table)
	if err != nil {
		return []Row{Failed(name, err)}
	}
	fmt.Fprintf(log, "writer: %d changes in %d batches of %d, each layout from a cold start, requests counted at %s\n", writerChanges, len(batches), journalBatch, p.URL)

	// Each layout through the real handler from a cold start (a new
	// Handler: its per-process checks count), with the Lambda's defaults
	// (32 keys at once; the per-item layout's SkipApplied on).
	handle := func(cfg stream.Config) (map[string]int64, float64, error) {
		before := p.Kinds()
		h, err := stream.New(pc.S3(), cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, 0, err
		}
		start := time.Now()
		for i, b := range batches {
			resp, err := h.Handle(ctx, b.event)
			if err == nil && len(resp.BatchItemFailures) > 0 {
				err = fmt.Errorf("batch %d: %d records failed", i, len(resp.BatchItemFailures))
			}
			if err != nil {
				return nil, 0, err
			}
		}
		return diffKinds(before, p.Kinds()), time.Since(start).Seconds(), nil
	}
	jkinds, jsecs, err := handle(stream.Config{Bucket: writerBucket, Prefix: tablePrefix, Table: table + "-journal", Concurrency: 32,
		Layout: stream.LayoutJournal, JournalLag: journal.DefaultLag, Tool: "dynasnap-bench"})
	if err != nil {
		return []Row{Failed(name+": journal layout", err)}
	}
	ikinds, isecs, err := handle(stream.Config{Bucket: writerBucket, Prefix: tablePrefix, Table: table + "-items", Concurrency: 32, SkipApplied: true})
	if err != nil {
		return []Row{Failed(name+": per-item layout", err)}
	}

	jn, in := total(jkinds), total(ikinds)
	per := func(n int64) float64 { return float64(n) * 1000 / writerChanges }
	fmt.Fprintf(log, "  journal: %d requests (%s) in %.2fs; per-item: %d requests (%s) in %.2fs\n", jn, kindsString(jkinds), jsecs, in, kindsString(ikinds), isecs)
	return []Row{
		Check("journal writer: S3 requests per 1,000 changes (500-change batches)",
			fmt.Sprintf("%.1f (%d requests for %d changes, cold start included: %s)", per(jn), jn, writerChanges, kindsString(jkinds)),
			fmt.Sprintf("<= %.0f", targetJournalWriterRequests), per(jn) <= targetJournalWriterRequests),
		Info("per-item writer: S3 requests per 1,000 changes (same changes)", "%.0f (%d requests: %s; %.0fx the journal's)", per(in), in, kindsString(ikinds), float64(in)/float64(max(1, jn))),
	}
}

func diffKinds(before, after map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func total(kinds map[string]int64) int64 {
	var n int64
	for _, v := range kinds {
		n += v
	}
	return n
}

// kindsString lists request counts by kind, largest first.
func kindsString(kinds map[string]int64) string {
	ks := slices.Collect(maps.Keys(kinds))
	slices.SortFunc(ks, func(a, b string) int {
		if kinds[a] != kinds[b] {
			return int(kinds[b] - kinds[a])
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
