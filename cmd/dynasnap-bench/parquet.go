package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/parquetfmt"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

// RunParquet measures the Parquet encoding offline: it takes a JSON-lines
// snapshot of the 1x dataset (not timed), loads its items into memory, and
// encodes them with one goroutine, so the figure is the encoder's cost per
// core and not S3's. It prints its own table to w.
func RunParquet(ctx context.Context, cfg Config, w, log io.Writer) error {
	if err := requireLoopback(os.Getenv("AWS_ENDPOINT_URL_S3")); err != nil {
		return err
	}
	clients, err := awsconf.Load(ctx, awsconf.Options{MaxConns: cfg.Concurrency})
	if err != nil {
		return err
	}
	s, err := ensure(ctx, clients.S3(), NewDataset(cfg.Items, cfg.Versions, int(float64(cfg.Items)*cfg.DeletedFraction)), cfg, log)
	if err != nil {
		return err
	}
	settle(ctx, s)
	dir := filepath.Join(cfg.WorkDir, fmt.Sprintf("parquet-%d", time.Now().UnixNano()))
	defer os.RemoveAll(dir)
	jsonl := filepath.Join(dir, "jsonl")
	fmt.Fprintf(log, "parquet: JSON-lines snapshot of %s into %s (not timed)\n", s.Source(), jsonl)
	at := snapshotAt(s)
	if _, err := snapshot.Run(ctx, s3source.New(clients.S3(), s.Location(s.Table).Bucket), store.NewLocal(jsonl), snapshot.Options{Source: s.Location(s.Table), At: at,
		Compression: "gzip", Concurrency: cfg.Concurrency}); err != nil {
		return fmt.Errorf("parquet bench: JSON-lines snapshot: %w", err)
	}
	rows, err := measureParquet(ctx, jsonl, filepath.Join(dir, "snapshot.parquet"), log)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nParquet encoding (offline, one goroutine, from a local JSON-lines snapshot of the 1x dataset)\n\n")
	if _, failed := Report(w, rows); failed > 0 {
		return fmt.Errorf("%d parquet figure(s) could not be measured", failed)
	}
	return nil
}

type loaded struct {
	body []byte
	meta parquetfmt.Meta
}

func measureParquet(ctx context.Context, jsonlDir, out string, log io.Writer) ([]Row, error) {
	snap, err := snapshot.Open(ctx, store.NewLocal(jsonlDir))
	if err != nil {
		return nil, err
	}
	var items []loaded
	err = snap.EachItem(ctx, func(l snapshot.Line) error {
		items = append(items, loaded{body: l.Item, meta: parquetfmt.Meta{ObjectKey: l.Source.Key, VersionID: l.Source.VersionID, LastModified: l.Source.LastModified}})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errors.New("parquet bench: the JSON-lines snapshot is empty")
	}
	var dataBytes, sideBytes int64
	for _, f := range snap.Files {
		dataBytes += f.SizeBytes
		if st, err := os.Stat(filepath.Join(jsonlDir, f.Sidecar)); err == nil {
			sideBytes += st.Size()
		}
	}
	samples := make([]parquetfmt.Sample, 0, snapshot.DefaultInferSample)
	for _, it := range items[:min(len(items), snapshot.DefaultInferSample)] {
		dec, err := item.Unmarshal(it.body)
		if err != nil {
			return nil, err
		}
		samples = append(samples, parquetfmt.Sample{Item: dec, ObjectKey: it.meta.ObjectKey})
	}
	ts, err := parquetfmt.Infer("bench", samples)
	if err != nil {
		return nil, err
	}
	l, err := parquetfmt.NewLayout(ts)
	if err != nil {
		return nil, err
	}

	f, err := os.Create(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fmt.Fprintf(log, "parquet: encoding %d items (%d typed columns)\n", len(items), len(ts.Attributes))
	runtime.GC()
	cpu0, t0 := cpuTime(), time.Now()
	pw, err := parquetfmt.NewWriter(f, l, parquetfmt.WriterOptions{Compression: "zstd", CreatedBy: "dynasnap bench"})
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if err := pw.Write(it.body, it.meta); err != nil {
			return nil, err
		}
	}
	if err := pw.Close(); err != nil {
		return nil, err
	}
	wall, cpu := time.Since(t0).Seconds(), (cpuTime() - cpu0).Seconds()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pqBytes := st.Size()

	// Reading back the item column, as restore and verify do.
	runtime.GC()
	r0 := time.Now()
	pf, err := parquetfmt.Open(f, pqBytes)
	if err != nil {
		return nil, err
	}
	rd, err := parquetfmt.NewReader(pf)
	if err != nil {
		return nil, err
	}
	n := 0
	for {
		b, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if n < len(items) && !json.Valid(b) {
			return nil, fmt.Errorf("parquet bench: item %d read back is not JSON", n)
		}
		n++
	}
	read := time.Since(r0).Seconds()
	if n != len(items) {
		return nil, fmt.Errorf("parquet bench: read back %d items, wrote %d", n, len(items))
	}
	k := float64(len(items))
	return []Row{
		Info("parquet: items", "%d (%d typed columns inferred, + item, _object_key, _version_id, _last_modified)", len(items), len(ts.Attributes)),
		Info("parquet: encode items/s (wall, one goroutine)", "%.0f items/s (%.2fs)", k/wall, wall),
		Info("parquet: encode items/s per core (CPU time)", "%.0f items/s (%.2f CPU-s, GC included)", k/cpu, cpu),
		Info("parquet: read back item column", "%.0f items/s (%.2fs)", k/read, read),
		Info("parquet (zstd) file size", "%s (%.0f bytes/item)", MB(pqBytes), float64(pqBytes)/k),
		Info("gzip JSON lines data files", "%s (%.0f bytes/item)", MB(dataBytes), float64(dataBytes)/k),
		Info("parquet / gzip JSON lines", "%.2fx the data files, %.2fx data + sidecars (parquet holds the sidecar's columns)",
			float64(pqBytes)/float64(dataBytes), float64(pqBytes)/float64(dataBytes+sideBytes)),
	}, nil
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
