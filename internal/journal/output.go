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
	"runtime"
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

	// export, for a base, asks for each part's export files (export.go);
	// x writes the current part's, exportKeys carries the key names
	// learned from part to part, exportErr says why the base has none.
	export     *exportSpec
	x          *exportWriter
	exportKeys []string
	exportErr  error
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
		if w.export != nil && w.exportErr == nil {
			w.x = newExportWriter(w.export, w.exportKeys)
		}
	}
	if w.x != nil {
		if err := w.x.add(r); err != nil {
			w.exportErr = err
			w.x.abandon()
			w.x = nil
		}
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
	zip, idx, x := w.zip, w.idx, w.x
	zip.end(w.chunk)
	w.zip, w.chunk, w.idx, w.x = nil, w.chunk[:0], blockIndex{}, nil
	if x != nil {
		x.end()
		w.exportKeys = x.keys
	}
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
		if x != nil {
			p.Export, err = x.store(ctx, w.b, w.folder, name)
		}
		return err
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

// compressor gzips a part as a series of gzip members (the key index's
// blocks, index.go), several members at once in goroutines of their own:
// members are independent, so the part's bytes are the same as one
// goroutine's, and the merge that feeds it is not held up by one core's
// compression (a level output of every change is the largest file a
// compaction writes).
type compressor struct {
	cur     []byte       // the member being gathered
	members int          // members handed over
	pending chan *member // in order, to the assembler
	writers chan *gzip.Writer
	free    chan []byte
	done    chan error
	z       bytes.Buffer
	// offsets are where the part's gzip members after the first start
	// (index.go), read once done has answered.
	offsets []int64
}

// member is one gzip member being compressed.
type member struct {
	raw   []byte
	out   bytes.Buffer
	err   error
	ready chan struct{}
}

// membersAhead is how many members a compressor holds at once, per core.
const membersAhead = 2

func startCompressor() *compressor {
	n := runtime.GOMAXPROCS(0)
	c := &compressor{pending: make(chan *member, membersAhead*n), writers: make(chan *gzip.Writer, n),
		free: make(chan []byte, membersAhead*n+1), done: make(chan error, 1)}
	for range n {
		c.writers <- nil
	}
	go func() {
		var err error
		for m := range c.pending {
			<-m.ready
			if err == nil {
				err = m.err
			}
			if err == nil {
				if c.z.Len() > 0 {
					c.offsets = append(c.offsets, int64(c.z.Len()))
				}
				c.z.Write(m.out.Bytes())
			}
			select {
			case c.free <- m.raw[:0]:
			default:
			}
		}
		c.done <- err
	}()
	return c
}

// write hands b over, the next bytes of the current member, and returns
// a buffer to go on with.
func (c *compressor) write(b []byte) []byte {
	if len(c.cur) == 0 {
		c.cur, b = b, c.buffer()
	} else {
		c.cur = append(c.cur, b...)
	}
	return b[:0]
}

func (c *compressor) buffer() []byte {
	select {
	case f := <-c.free:
		return f
	default:
		return make([]byte, 0, chunkSize+64<<10)
	}
}

// member hands b over as a member of its own once it holds chunkSize
// bytes, and returns the buffer to go on with (b itself until then).
func (c *compressor) member(b []byte) []byte {
	if len(b) < chunkSize {
		return b
	}
	b = c.write(b)
	c.endMember()
	return b
}

// endMember ends the current member: it is compressed beside the others.
func (c *compressor) endMember() {
	m := &member{raw: c.cur, ready: make(chan struct{})}
	c.cur = nil
	c.members++
	c.pending <- m // blocks while membersAhead per core are under way
	zw := <-c.writers
	go func() {
		defer close(m.ready)
		// Level 1: journal files are read far more than once per write,
		// and BestSpeed gunzips as fast as any level while writing several
		// times faster, for files about a fifth larger.
		if zw == nil {
			zw, _ = gzip.NewWriterLevel(&m.out, gzip.BestSpeed)
		} else {
			zw.Reset(&m.out)
		}
		m.out.Grow(len(m.raw)/4 + 512)
		if _, m.err = zw.Write(m.raw); m.err == nil {
			m.err = zw.Close()
		}
		c.writers <- zw
	}()
}

// end hands over the rest of the part; result waits for its bytes.
func (c *compressor) end(rest []byte) {
	if len(rest) > 0 {
		c.cur = append(c.cur, rest...)
	}
	if len(c.cur) > 0 || c.members == 0 {
		c.endMember()
	}
	close(c.pending)
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
	w.dropExport(ctx)
	if shards <= 1 {
		m.Records, m.Files = w.total, w.parts
		if m.Files == nil {
			m.Files = []Part{}
		}
		w.exportDir(&m)
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
	w.exportDir(&m)
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
