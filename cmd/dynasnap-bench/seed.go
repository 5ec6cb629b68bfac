package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/dynasnap/dynasnap/internal/layout"
)

// Marker is written last, once every item of a table is in: a table without
// it (an interrupted seeding) is never measured.
type Marker struct {
	Dataset
	Table       string    `json:"table"`
	SeededAt    time.Time `json:"seededAt"`
	SeedSeconds float64   `json:"seedSeconds"`
}

// Seeded is what Ensure found or made.
type Seeded struct {
	Marker
	Reused bool // true: an earlier run had seeded it; SeedSeconds is that run's
}

// Source is the --source URL of the seeded table.
func (s Seeded) Source() string { return s.Location(s.Table).String() }

// Ensure returns the dataset's seeded table, seeding it first unless an
// earlier run completed it. An interrupted seeding is not resumed: the new
// one writes a fresh table (a new name under the same bucket), so no key ever
// holds versions from two attempts and the version count stays exact.
func Ensure(ctx context.Context, cl *s3.Client, d Dataset, concurrency int, progress io.Writer) (Seeded, error) {
	if m, ok, err := readMarker(ctx, cl, d.Bucket); err != nil {
		return Seeded{}, err
	} else if ok && m.Dataset == d {
		return Seeded{Marker: m, Reused: true}, nil
	}
	if err := ensureBucket(ctx, cl, d.Bucket); err != nil {
		return Seeded{}, err
	}
	// Each attempt gets its own table name: see above.
	table := "items-" + strconv.FormatInt(time.Now().Unix(), 36)
	start := time.Now()
	if err := seed(ctx, cl, d, table, concurrency, progress); err != nil {
		return Seeded{}, fmt.Errorf("seed %s: %w", d.Location(table), err)
	}
	m := Marker{Dataset: d, Table: table, SeededAt: time.Now().UTC(), SeedSeconds: time.Since(start).Seconds()}
	if err := writeMarker(ctx, cl, m); err != nil {
		return Seeded{}, err
	}
	return Seeded{Marker: m}, nil
}

func readMarker(ctx context.Context, cl *s3.Client, bucket string) (Marker, bool, error) {
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(markerKey)})
	if err != nil {
		// GetObject declares only NoSuchKey as a typed error; a missing
		// bucket comes as a generic API error (or a bare 404 on some servers).
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) {
			switch apiErr.ErrorCode() {
			case "NoSuchKey", "NoSuchBucket", "NotFound":
				return Marker{}, false, nil
			}
		}
		return Marker{}, false, fmt.Errorf("read seeding marker s3://%s/%s: %w", bucket, markerKey, err)
	}
	defer out.Body.Close()
	var m Marker
	if err := json.NewDecoder(out.Body).Decode(&m); err != nil {
		// A garbled marker is as good as none: reseed.
		return Marker{}, false, nil
	}
	return m, true, nil
}

func writeMarker(ctx context.Context, cl *s3.Client, m Marker) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode seeding marker: %w", err)
	}
	_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(m.Bucket), Key: aws.String(markerKey),
		Body: bytes.NewReader(b), ContentType: aws.String("application/json")})
	if err != nil {
		return fmt.Errorf("write seeding marker s3://%s/%s: %w", m.Bucket, markerKey, err)
	}
	return nil
}

// ensureBucket creates the bucket if needed and turns versioning on.
func ensureBucket(ctx context.Context, cl *s3.Client, bucket string) error {
	_, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var owned *s3types.BucketAlreadyOwnedByYou
	var exists *s3types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	_, err = cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
	if err != nil {
		return fmt.Errorf("enable versioning on %s: %w", bucket, err)
	}
	return nil
}

// seed writes every item of the dataset, concurrency keys at a time. One
// worker owns a key from its first put to its delete, so the versions of a
// key land in order without any coordination.
func seed(ctx context.Context, cl *s3.Client, d Dataset, table string, concurrency int, progress io.Writer) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	loc := d.Location(table)
	var next, writes atomic.Int64
	done := make(chan struct{})
	go reportProgress(done, &writes, int64(d.Writes()), progress)
	defer close(done)

	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= d.Keys() || ctx.Err() != nil {
					return
				}
				if err := seedKey(ctx, cl, loc, i, d, &writes); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// seedKey writes the versions of item i, then deletes it if it is one of the
// deleted items (numbered after the live ones).
func seedKey(ctx context.Context, cl *s3.Client, loc layout.Location, i int, d Dataset, writes *atomic.Int64) error {
	var key string
	for v := 1; v <= d.Versions; v++ {
		id, body, err := encodeItem(i, v)
		if err != nil {
			return err
		}
		key = loc.ObjectKey(id)
		_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(key),
			Body: bytes.NewReader(body), ContentType: aws.String("application/json")})
		if err != nil {
			return fmt.Errorf("put %s (item %d version %d): %w", key, i, v, err)
		}
		writes.Add(1)
	}
	if i >= d.Items {
		if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(key)}); err != nil {
			return fmt.Errorf("delete %s (item %d): %w", key, i, err)
		}
		writes.Add(1)
	}
	return nil
}

// reportProgress prints a line every few seconds: seeding the large dataset
// takes minutes, and silence would look like a hang.
func reportProgress(done <-chan struct{}, n *atomic.Int64, total int64, w io.Writer) {
	if w == nil {
		return
	}
	start := time.Now()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			got := n.Load()
			rate := float64(got) / time.Since(start).Seconds()
			eta := "?"
			if rate > 0 {
				eta = (time.Duration(float64(total-got)/rate) * time.Second).Round(time.Second).String()
			}
			fmt.Fprintf(w, "  seeding: %d/%d writes, %.0f/s, ETA %s\n", got, total, rate, eta)
		}
	}
}
