package snapshot

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/store"
)

// A journal's base may be stored also as a snapshot's files (docs/DESIGN.md
// §10.6): a run at the base's time whose output is what those files hold
// copies them, each checked against its digest, instead of reading,
// folding and compressing every item again.

// copiesReady is whether the run writes what ready-made files hold: JSON
// lines, gzip, the default cut (their files are smaller than it), every
// item without its aws:rep:* attributes, whole (no base, no shard).
func (o *Options) copiesReady() bool {
	return o.Format == FormatJSONLines && o.Compression == "gzip" && !o.SingleFile && o.FileSize == DefaultFileSize &&
		o.Base == nil && o.Shards == 0 && o.Filter == nil && !o.KeepReplication
}

// readyFiles is the state at opts.At as ready-made files, when the source
// has them and the run writes what they hold; nil otherwise.
func readyFiles(ctx context.Context, src history.Source, opts *Options) (history.ReadySource, *history.Ready, error) {
	rs, ok := src.(history.ReadySource)
	if !ok || !opts.copiesReady() {
		return nil, nil, nil
	}
	r, err := rs.ReadyFiles(ctx, opts.Source.Dir(), opts.At)
	if err != nil || r == nil {
		return nil, nil, err
	}
	return rs, r, nil
}

// errReadyDamaged marks a ready-made file that is not what its manifest
// says: the run reads the state instead.
var errReadyDamaged = errors.New("damaged")

// readyFilesAtOnce is how many files are copied at once.
const readyFilesAtOnce = 4

// copyReady writes r's files as the run's data files and sidecars.
func (ps *parts) copyReady(ctx context.Context, rs history.ReadySource, r *history.Ready) error {
	if err := ps.ready(); err != nil {
		return err
	}
	o := ps.opts
	entries := make([]FileEntry, len(r.Files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readyFilesAtOnce)
	for i, f := range r.Files {
		data, side := ps.name(DataDir, extension(o.Format, o.Compression)), ps.name(SidecarDir, sidecarExtension(o.Compression))
		ps.n++
		g.Go(func() error {
			e, err := copyReadyFile(gctx, rs, ps.st, f, data, side, o.Written.Add)
			entries[i] = e
			return err
		})
	}
	if err := g.Wait(); err != nil {
		for _, e := range entries {
			if e.Data != "" {
				_ = ps.st.Remove(context.WithoutCancel(ctx), e.Data)
				_ = ps.st.Remove(context.WithoutCancel(ctx), e.Sidecar)
			}
		}
		ps.n = 0
		return err
	}
	for i, f := range r.Files {
		ps.files = append(ps.files, entries[i])
		ps.billed.Add(f.BilledBytes)
	}
	return nil
}

// copyReadyFile copies one data file and its sidecar into st as data and
// side, committed only when both match their digests.
func copyReadyFile(ctx context.Context, rs history.ReadySource, st store.Store, f history.ReadyFile, data, side string, written func(int64)) (FileEntry, error) {
	df, err := st.Create(ctx, data)
	if err != nil {
		return FileEntry{}, err
	}
	sf, err := st.Create(ctx, side)
	if err != nil {
		df.Abort()
		return FileEntry{}, err
	}
	dsum, err := copyChecked(ctx, rs, f.Data, df, md5.New(), f.DataBytes, f.DataMD5, written)
	if err == nil {
		_, err = copyChecked(ctx, rs, f.Sidecar, sf, sha256.New(), f.SidecarBytes, f.SidecarSHA256, nil)
	}
	if err == nil {
		err = df.Commit(ctx)
	}
	if err == nil {
		err = sf.Commit(ctx)
	}
	if err != nil {
		df.Abort()
		sf.Abort()
		return FileEntry{}, err
	}
	e := FileEntry{ItemCount: f.Items, MD5Checksum: b64(dsum), SizeBytes: f.DataBytes, FirstKey: f.FirstKey, LastKey: f.LastKey,
		Data: data, Sidecar: side, DataFileS3Key: st.Key(data), SidecarS3Key: st.Key(side)}
	if e.ETag = store.ETag(df); e.ETag == "" {
		e.ETag = hex.EncodeToString(dsum) // what a single-part upload gets
	}
	return e, nil
}

// copyChecked copies the object key into w and checks its size and digest.
func copyChecked(ctx context.Context, rs history.ReadySource, key string, w io.Writer, h hash.Hash, size int64, want []byte, written func(int64)) ([]byte, error) {
	rc, err := rs.OpenReady(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	dst := io.MultiWriter(w, h)
	if written != nil {
		dst = io.MultiWriter(w, h, progressWriter(written))
	}
	n, err := io.Copy(dst, rc)
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w", key, err)
	}
	sum := h.Sum(nil)
	if n != size || !bytes.Equal(sum, want) {
		return nil, fmt.Errorf("%w: %s holds %d bytes that do not match its base's manifest (%d bytes, digest %x)", errReadyDamaged, key, n, size, want)
	}
	return sum, nil
}

// progressWriter tells progress of the bytes written through it.
type progressWriter func(int64)

func (p progressWriter) Write(b []byte) (int, error) {
	p(int64(len(b)))
	return len(b), nil
}
