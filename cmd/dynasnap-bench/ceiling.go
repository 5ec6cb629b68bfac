package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/fastget"
	"github.com/dynasnap/dynasnap/internal/layout"
)

// ObjectVersion is one object the snapshot has to fetch.
type ObjectVersion struct {
	Key, VersionID string
}

// maxPages bounds the listing: far more pages than any bench table needs
// (1,000 versions a page), so a server that never ends paging fails instead
// of looping.
const maxPages = 100_000

// LatestLive lists the newest version of every key under loc that is not a
// delete marker: what a snapshot taken now fetches. The server flags the
// newest entry of each key (IsLatest), so the split of the SDK's typed output
// into versions and delete markers loses nothing here.
func LatestLive(ctx context.Context, cl *s3.Client, loc layout.Location) ([]ObjectVersion, error) {
	var objs []ObjectVersion
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(loc.Bucket), Prefix: aws.String(loc.Dir())}
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("list %s: more than %d pages; giving up", loc, maxPages)
		}
		out, err := cl.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list versions of %s: %w", loc, err)
		}
		for _, v := range out.Versions {
			if aws.ToBool(v.IsLatest) {
				objs = append(objs, ObjectVersion{Key: aws.ToString(v.Key), VersionID: aws.ToString(v.VersionId)})
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return objs, nil
		}
		km, vm := aws.ToString(out.NextKeyMarker), aws.ToString(out.NextVersionIdMarker)
		if km == aws.ToString(in.KeyMarker) && vm == aws.ToString(in.VersionIdMarker) {
			return nil, fmt.Errorf("list %s: page %d made no progress (marker %q/%q)", loc, page, km, vm)
		}
		in.KeyMarker, in.VersionIdMarker = aws.String(km), aws.String(vm)
	}
}

// Throughput is a measured fetch loop.
type Throughput struct {
	Items   int
	Bytes   int64
	Seconds float64
	// CPU used during the loop: by this process (the client), and by the
	// server when it can be read (ServerOK).
	ClientCPU, ServerCPU time.Duration
	ServerOK             bool
	// OtherCPU is what other processes used meanwhile (OtherOK).
	OtherCPU time.Duration
	OtherOK  bool
}

// Other is the other processes' load during the loop, for the log.
func (t Throughput) Other() string {
	if !t.OtherOK {
		return "other load unknown"
	}
	return "other processes " + load(t.OtherCPU, t.Seconds)
}

// Disturbed reports whether other processes used too much CPU meanwhile.
func (t Throughput) Disturbed() bool { return disturbed(t.OtherCPU, t.OtherOK, t.Seconds) }

// ItemsPerSecond is the figure compared with the snapshot's.
func (t Throughput) ItemsPerSecond() float64 {
	if t.Seconds <= 0 {
		return 0
	}
	return float64(t.Items) / t.Seconds
}

// Ceiling times a bare loop of GetObject by key and version id, concurrency
// requests in flight, every body read to the end: the fastest the snapshot's
// fetch stage could go on this server, since it can do no less work per item.
func Ceiling(ctx context.Context, cl *s3.Client, bucket string, objs []ObjectVersion, concurrency int) (Throughput, error) {
	return undisturbed(func() (Throughput, error) {
		return getLoop(ctx, objs, concurrency, func(ctx context.Context, o ObjectVersion) (int64, error) { return fetch(ctx, cl, bucket, o) })
	})
}

// LeanCeiling is Ceiling with the snapshot's own GET client (fastget), for
// the report: it shows how much of the ratio comes from that client's lower
// CPU cost rather than from the pipeline.
func LeanCeiling(ctx context.Context, cl *s3.Client, bucket string, objs []ObjectVersion, concurrency int) (Throughput, error) {
	g := fastget.ForClient(cl, "")
	if g == nil {
		return Throughput{}, fmt.Errorf("the lean GET client is off for this endpoint")
	}
	defer g.Close()
	return undisturbed(func() (Throughput, error) {
		return getLoop(ctx, objs, concurrency, func(ctx context.Context, o ObjectVersion) (int64, error) {
			var buf bytes.Buffer
			if err := g.Get(ctx, bucket, o.Key, o.VersionID, &buf); err != nil {
				return 0, fmt.Errorf("get %s version %s: %w", o.Key, o.VersionID, err)
			}
			return int64(buf.Len()), nil
		})
	})
}

func getLoop(ctx context.Context, objs []ObjectVersion, concurrency int, get func(context.Context, ObjectVersion) (int64, error)) (Throughput, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, total atomic.Int64
	var wg sync.WaitGroup
	waitQuiet(ctx)
	server, client, other := startServerCPU(), cpuTime(), startOther()
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(objs) || ctx.Err() != nil {
					return
				}
				n, err := get(ctx, objs[i])
				if err != nil {
					cancel(err)
					return
				}
				total.Add(n)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	t := Throughput{Items: len(objs), Bytes: total.Load(), Seconds: elapsed, ClientCPU: cpuTime() - client}
	t.ServerCPU, t.ServerOK = server.stop()
	t.OtherCPU, t.OtherOK = other.stop(0)
	if err := context.Cause(ctx); err != nil {
		return Throughput{}, err
	}
	return t, nil
}

func fetch(ctx context.Context, cl *s3.Client, bucket string, o ObjectVersion) (int64, error) {
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.Key), VersionId: aws.String(o.VersionID)})
	if err != nil {
		return 0, fmt.Errorf("get %s version %s: %w", o.Key, o.VersionID, err)
	}
	defer out.Body.Close()
	n, err := io.Copy(io.Discard, out.Body)
	if err != nil {
		return n, fmt.Errorf("read %s version %s: %w", o.Key, o.VersionID, err)
	}
	return n, nil
}
