package journal

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/klauspost/compress/gzip"
)

// DefaultPartBytes is where an output's part is cut, in bytes of JSON
// lines before compression.
const DefaultPartBytes = 64 << 20

// partWriter writes one shard's records of an output as parts, in id
// order, cut by size only between two ids so an id's records stay in one
// part. Part names carry the run's id: two runs writing one output never
// write the same object, and only the parts the winning manifest names
// are read (docs/DESIGN.md §10.7).
type partWriter struct {
	b      Bucket
	folder string
	run    string
	shard  int
	cut    int64
	// name names part n (default: part-<run>-<shard>-<n>).
	name func(n int) string

	raw     int64
	z       bytes.Buffer
	zw      *gzip.Writer
	line    []byte
	first   string
	last    string
	records int64
	total   int64
	parts   []Part
}

func newRunID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newPartWriter(b Bucket, folder, run string, shard int, cut int64) *partWriter {
	if cut <= 0 {
		cut = DefaultPartBytes
	}
	return &partWriter{b: b, folder: folder, run: run, shard: shard, cut: cut}
}

func (w *partWriter) add(ctx context.Context, r *Record) error {
	if w.zw != nil && r.ID != w.last && w.raw >= w.cut {
		if err := w.flush(ctx); err != nil {
			return err
		}
	}
	if w.zw == nil {
		w.z.Reset()
		w.zw, _ = gzip.NewWriterLevel(&w.z, gzip.DefaultCompression)
		w.first, w.raw, w.records = r.ID, 0, 0
	}
	w.line = r.AppendLine(w.line[:0])
	if _, err := w.zw.Write(w.line); err != nil {
		return err
	}
	w.raw += int64(len(w.line))
	w.last = r.ID
	w.records++
	w.total++
	return nil
}

func (w *partWriter) flush(ctx context.Context) error {
	if w.zw == nil {
		return nil
	}
	if err := w.zw.Close(); err != nil {
		return err
	}
	w.zw = nil
	name := fmt.Sprintf("part-%s-%05d-%05d%s", w.run, w.shard, len(w.parts), partExt)
	if w.name != nil {
		name = w.name(len(w.parts))
	}
	body := w.z.Bytes()
	sum := sha256.Sum256(body)
	if err := w.b.Put(ctx, w.folder+name, body, false); err != nil {
		return err
	}
	w.parts = append(w.parts, Part{Name: name, Records: w.records, Bytes: int64(len(body)), SHA256: hex.EncodeToString(sum[:]), FirstID: w.first, LastID: w.last})
	return nil
}

// shardManifest is one shard's share of an output, written when the
// shard's parts are stored; the output's manifest joins them.
type shardManifest struct {
	Shard   int    `json:"shard"`
	Shards  int    `json:"shards"`
	Records int64  `json:"records"`
	Files   []Part `json:"files"`
}

// finish stores the shard's parts and its shard manifest, and when every
// shard's is there, the output's manifest (If-None-Match: the first run to
// write it wins; its parts are the output). done reports whether the
// manifest exists now.
func (w *partWriter) finish(ctx context.Context, shards int, m Manifest) (done bool, err error) {
	if err := w.flush(ctx); err != nil {
		return false, err
	}
	if shards <= 1 {
		m.Records, m.Files = w.total, w.parts
		if m.Files == nil {
			m.Files = []Part{}
		}
		return true, putManifest(ctx, w.b, w.folder, m)
	}
	sm := shardManifest{Shard: w.shard, Shards: shards, Records: w.total, Files: w.parts}
	body, _ := json.Marshal(sm)
	if err := w.b.Put(ctx, w.folder+shardManifestName(w.shard, shards), body, true); err != nil && !errors.Is(err, ErrExists) {
		return false, err
	}
	// Join the shards' manifests, if all are there.
	all := make([]*shardManifest, shards)
	for i := range shards {
		body, err := readAll(ctx, w.b, w.folder+shardManifestName(i, shards))
		if errors.Is(err, ErrNotExist) {
			return false, nil // a later shard finishes the output
		}
		if err != nil {
			return false, err
		}
		var s shardManifest
		if err := json.Unmarshal(body, &s); err != nil {
			return false, fmt.Errorf("shard manifest %s%s: %w", w.folder, shardManifestName(i, shards), err)
		}
		all[i] = &s
	}
	m.Files = []Part{}
	for _, s := range all {
		m.Records += s.Records
		m.Files = append(m.Files, s.Files...)
	}
	return true, putManifest(ctx, w.b, w.folder, m)
}

func putManifest(ctx context.Context, b Bucket, folder string, m Manifest) error {
	m.FormatVersion = FormatVersion
	m.CreatedAt = time.Now().UTC()
	body, _ := json.MarshalIndent(m, "", "  ")
	err := b.Put(ctx, folder+ManifestName, append(body, '\n'), true)
	if errors.Is(err, ErrExists) {
		return nil // another run finished this output first: its parts stand
	}
	return err
}
