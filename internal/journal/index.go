package journal

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/klauspost/compress/gzip"
)

// The key index of a sorted file (docs/DESIGN.md §10.10). A part of a
// level output or a base is written as a series of gzip members (blocks),
// each cut between two ids after BlockBytes of JSON: concatenated members
// are one gzip stream to every reader (gunzip, DuckDB, Athena, Go), and
// each member also decompresses on its own. The part's manifest entry
// lists each block's first id and its byte offset, so one id's records
// are one ranged GET of one block (a few hundred KB), not the whole part.

// BlockBytes is where a part's block is cut, in bytes of JSON before
// compression: a block is about a tenth of this compressed, one ranged
// GET; a 64 MiB part has 256 index entries (about 25 KB of manifest).
const BlockBytes = 256 << 10

// Block is one index entry of a part: the first id of a gzip member and
// the member's byte offset in the part as stored.
type Block struct {
	ID     string `json:"id"`
	Offset int64  `json:"offset"`
}

// RangeBucket is a Bucket that reads byte ranges (S3: GetObject with
// Range). A reader uses it for the key index; a Bucket without it reads
// whole parts.
type RangeBucket interface {
	Bucket
	// GetRange opens bytes [off, off+n) of key.
	GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
}

// blockIndex is the partWriter's index of the part being written.
type blockIndex struct {
	blocks []Block
	at     int64 // w.raw where the current block started
}

// indexRecord is called by partWriter.add before r is appended: it starts
// the part's first block, or cuts a new one between two ids once the
// current block holds BlockBytes.
func (w *partWriter) indexRecord(r *Record) {
	switch {
	case w.records == 0:
		w.idx = blockIndex{blocks: []Block{{ID: r.ID}}}
	case r.ID != w.last && w.raw-w.idx.at >= w.blockCut():
		if len(w.chunk) > 0 {
			w.chunk = w.zip.write(w.chunk)
		}
		w.zip.endMember()
		w.idx.blocks = append(w.idx.blocks, Block{ID: r.ID})
		w.idx.at = w.raw
	}
}

func (w *partWriter) blockCut() int64 {
	if w.blockBytes > 0 {
		return w.blockBytes
	}
	return BlockBytes
}

// withOffsets is the part's blocks with the offsets its compressor
// measured, once the compressor is done (its result has answered).
func (x blockIndex) withOffsets(c *compressor) []Block {
	blocks := x.blocks
	if len(blocks) != len(c.offsets)+1 {
		return nil // not indexed as expected: readers read the part whole
	}
	for i := 1; i < len(blocks); i++ {
		blocks[i].Offset = c.offsets[i-1]
	}
	if len(blocks) == 1 {
		return nil // one block is the whole part: no index needed
	}
	return blocks
}

// blockRange is the byte range of p holding the ids in [lo, hi) ("" hi:
// to the end), by its index; ok is false when the index does not narrow
// the read (no index, or the whole part).
func (p *Part) blockRange(lo, hi string) (off, n int64, ok bool) {
	b := p.Blocks
	if len(b) < 2 || p.Bytes <= 0 {
		return 0, 0, false
	}
	// The first block: the last one starting at or before lo (an id's
	// records are never split between blocks).
	i := sort.Search(len(b), func(i int) bool { return b[i].ID > lo }) - 1
	i = max(i, 0)
	// The first block not needed: the first starting at or after hi.
	j := len(b)
	if hi != "" {
		j = sort.Search(len(b), func(j int) bool { return b[j].ID >= hi })
	}
	if j <= i {
		j = i + 1
	}
	end := p.Bytes
	if j < len(b) {
		end = b[j].Offset
	}
	if i == 0 && j == len(b) {
		return 0, 0, false
	}
	if b[i].Offset >= end || end > p.Bytes {
		return 0, 0, false
	}
	return b[i].Offset, end - b[i].Offset, true
}

// checkBlocks is a manifest's check of a part's index.
func (p *Part) checkBlocks() error {
	for i, bl := range p.Blocks {
		if i == 0 && (bl.Offset != 0 || bl.ID != p.FirstID) {
			return fmt.Errorf("part %s: its index does not start at the part's first id and offset 0", p.Name)
		}
		if i > 0 && (bl.ID <= p.Blocks[i-1].ID || bl.Offset <= p.Blocks[i-1].Offset || bl.Offset >= p.Bytes || bl.ID > p.LastID) {
			return fmt.Errorf("part %s: index entry %d is out of order", p.Name, i)
		}
	}
	return nil
}

// readPart reads the records of one part with ids in [lo, hi) into c:
// only the blocks that hold them when the part has an index and the
// bucket reads ranges, else the whole part.
func (r *Reader) readPart(ctx context.Context, c *cursor, folder string, p Part, lo, hi string, keep func(*Record) bool, rs *ReadStats) error {
	rb, canRange := r.Bucket.(RangeBucket)
	off, n, ok := p.blockRange(lo, hi)
	if !canRange || !ok {
		return r.readRun(ctx, c, folder+p.Name, 0, lo, hi, keep, rs)
	}
	key := folder + p.Name
	rc, err := rb.GetRange(ctx, key, off, n)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return fmt.Errorf("journal object s3://%s/%s bytes %d-%d are not a gzip member (its index is wrong): %w", r.Bucket.Name(), key, off, off+n-1, err)
	}
	rs.Ranged.Add(1)
	return readLines(ctx, c, zr, fmt.Sprintf("s3://%s/%s bytes %d-%d", r.Bucket.Name(), key, off, off+n-1), 0, lo, hi, keep, rs)
}
