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
	"slices"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"
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
	zip     *compressor // nil between parts
	chunk   []byte
	first   string
	last    string
	records int64
	total   int64
	parts   []Part // stored
	// cutParts holds the parts cut and still being compressed and stored,
	// in goroutines of their own (storing) so the merge goes on meanwhile.
	cutParts []*Part
	storing  *errgroup.Group

	idx        blockIndex // the key index of the part being written (index.go)
	blockBytes int64      // where a block is cut (0: BlockBytes)
}

// partsStoring is how many cut parts a writer stores at once: each holds
// its compressed bytes until its PUT is done.
const partsStoring = 2

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

// chunkSize is how much JSON the merge hands the compressor at a time.
const chunkSize = 1 << 20

func (w *partWriter) add(ctx context.Context, r *Record) error {
	if w.zip != nil && r.ID != w.last && w.raw >= w.cut {
		w.cutPart(ctx)
	}
	if w.zip == nil {
		w.zip = startCompressor()
		w.first, w.raw, w.records = r.ID, 0, 0
	}
	w.indexRecord(r)
	n := len(w.chunk)
	w.chunk = r.appendRaw(w.chunk)
	w.raw += int64(len(w.chunk) - n)
	if len(w.chunk) >= chunkSize {
		w.chunk = w.zip.write(w.chunk)
	}
	w.last = r.ID
	w.records++
	w.total++
	return nil
}

// cutPart ends the current part: its compression ends and it is stored
// by a goroutine of its own (partsStoring at once), while the merge goes
// on; flush waits for them.
func (w *partWriter) cutPart(ctx context.Context) {
	if w.zip == nil {
		return
	}
	zip, idx := w.zip, w.idx
	zip.end(w.chunk)
	w.zip, w.chunk, w.idx = nil, w.chunk[:0], blockIndex{}
	n := len(w.parts) + len(w.cutParts)
	name := fmt.Sprintf("part-%s-%05d-%05d%s", w.run, w.shard, n, partExt)
	if w.name != nil {
		name = w.name(n)
	}
	p := &Part{Name: name, Records: w.records, FirstID: w.first, LastID: w.last}
	w.cutParts = append(w.cutParts, p)
	if w.storing == nil {
		w.storing = &errgroup.Group{}
		w.storing.SetLimit(partsStoring)
	}
	w.storing.Go(func() error {
		body, err := zip.result()
		if err != nil {
			return err
		}
		p.Blocks = idx.withOffsets(zip) // index.go
		sum := sha256.Sum256(body)
		if err := w.b.Put(ctx, w.folder+name, body, false); err != nil {
			return err
		}
		p.Bytes, p.SHA256 = int64(len(body)), hex.EncodeToString(sum[:])
		return nil
	})
}

// flush ends the current part and waits until every part cut is stored.
func (w *partWriter) flush(ctx context.Context) error {
	w.cutPart(ctx)
	if w.storing == nil {
		return nil
	}
	err := w.storing.Wait()
	w.storing = nil
	if err != nil {
		return err
	}
	for _, p := range w.cutParts {
		w.parts = append(w.parts, *p)
	}
	w.cutParts = nil
	return nil
}

// compressor gzips a part in a goroutine of its own, so the merge that
// feeds it and the compression use two cores. Chunks go back to the writer
// once compressed.
type compressor struct {
	in   chan []byte
	free chan []byte
	done chan error
	z    bytes.Buffer
	// offsets are where the part's gzip members after the first start
	// (index.go), read once done has answered.
	offsets []int64
}

func startCompressor() *compressor {
	c := &compressor{in: make(chan []byte, 2), free: make(chan []byte, 3), done: make(chan error, 1)}
	go func() {
		// Level 1: journal files are read far more than once per write,
		// and BestSpeed gunzips as fast as any level while writing several
		// times faster, for files about a fifth larger.
		zw, _ := gzip.NewWriterLevel(&c.z, gzip.BestSpeed)
		var err error
		for b := range c.in {
			if b == nil { // the end of a block (index.go)
				if err == nil {
					err = c.cutMember(zw)
				}
				continue
			}
			if err == nil {
				_, err = zw.Write(b)
			}
			select {
			case c.free <- b[:0]:
			default:
			}
		}
		if err == nil {
			err = zw.Close()
		}
		c.done <- err
	}()
	return c
}

// write hands b over and returns a buffer to go on with.
func (c *compressor) write(b []byte) []byte {
	c.in <- b
	select {
	case f := <-c.free:
		return f
	default:
		return make([]byte, 0, chunkSize+64<<10)
	}
}

// end hands over the rest of the part; result waits for its bytes.
func (c *compressor) end(rest []byte) {
	if len(rest) > 0 {
		c.in <- slices.Clone(rest)
	}
	close(c.in)
}

func (c *compressor) result() ([]byte, error) {
	if err := <-c.done; err != nil {
		return nil, err
	}
	return c.z.Bytes(), nil
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
