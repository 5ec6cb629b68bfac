package snapshot

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync/atomic"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/store"
)

// countingWriter hashes and counts what goes into a file. A compressor
// writes to it from its own goroutine; n is read for progress meanwhile.
type countingWriter struct {
	w   io.Writer
	md5 hash.Hash
	n   atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.md5.Write(p[:n])
	c.n.Add(int64(n))
	return n, err
}

// part is one data file being written with its sidecar. The file is created
// on the first item, so empty ranges leave no file.
type part struct {
	st          store.Store
	data, side  string
	format      string
	compression string
	parquet     *ParquetOptions // for format parquet
	written     func(int64)     // reports compressed bytes written, for progress

	dataF, sideF store.File
	dataC        *countingWriter
	items        itemWriter
	sideZ        io.WriteCloser
	sideLine     []byte
	entry        FileEntry
	// raw counts the item JSON written, before compression: what a data
	// file is cut by, since a compressor emits its output in blocks.
	raw int64
	// reported is how much of dataC.n progress has been told.
	reported int64
}

// report tells progress what the compressor has written since last time.
func (p *part) report() {
	if p.written != nil {
		n := p.dataC.n.Load()
		p.written(n - p.reported)
		p.reported = n
	}
}

func (p *part) open(ctx context.Context) error {
	var err error
	if p.dataF, err = p.st.Create(ctx, p.data); err != nil {
		return err
	}
	if p.sideF, err = p.st.Create(ctx, p.side); err != nil {
		return err
	}
	p.dataC = &countingWriter{w: p.dataF, md5: md5.New()}
	if p.items, err = newDataWriter(p.format, p.compression, p.dataC, p.parquet); err != nil {
		return err
	}
	if p.sideZ, err = compressor(p.sideF, p.compression); err != nil {
		return err
	}
	return nil
}

// add writes one item: body is its compact DynamoDB JSON.
func (p *part) add(ctx context.Context, e history.Entry, body []byte) error {
	if p.dataF == nil {
		if err := p.open(ctx); err != nil {
			return err
		}
		p.entry.FirstKey = e.Key
	}
	if err := p.items.Write(e, body); err != nil {
		return fmt.Errorf("write %s: %w", p.st.URL(p.data), err)
	}
	p.sideLine = appendSidecarLine(p.sideLine[:0], SidecarLine{Key: e.Key, VersionID: e.VersionID, LastModified: e.LastModified})
	if _, err := p.sideZ.Write(p.sideLine); err != nil {
		return fmt.Errorf("write %s: %w", p.st.URL(p.side), err)
	}
	p.report()
	p.entry.ItemCount++
	p.raw += int64(len(body))
	p.entry.LastKey = e.Key
	return nil
}

// commit finishes both files; it returns false for an empty part.
func (p *part) commit(ctx context.Context) (bool, error) {
	if p.dataF == nil {
		return false, nil
	}
	if err := p.items.Close(); err != nil {
		return false, fmt.Errorf("finish %s: %w", p.st.URL(p.data), err)
	}
	if err := p.sideZ.Close(); err != nil {
		return false, fmt.Errorf("finish %s: %w", p.st.URL(p.side), err)
	}
	p.report()
	if err := p.dataF.Commit(ctx); err != nil {
		return false, err
	}
	if err := p.sideF.Commit(ctx); err != nil {
		return false, err
	}
	sum := p.dataC.md5.Sum(nil)
	p.entry.MD5Checksum = base64.StdEncoding.EncodeToString(sum)
	if p.entry.ETag = store.ETag(p.dataF); p.entry.ETag == "" {
		p.entry.ETag = hex.EncodeToString(sum) // what a single-part upload gets
	}
	p.entry.SizeBytes = p.dataC.n.Load()
	p.entry.Data, p.entry.Sidecar = p.data, p.side
	p.entry.DataFileS3Key, p.entry.SidecarS3Key = p.st.Key(p.data), p.st.Key(p.side)
	return true, nil
}

func (p *part) abort() {
	if p.dataF != nil {
		p.dataF.Abort()
		p.sideF.Abort()
	}
}

func md5New() hash.Hash   { return md5.New() }
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
