package journal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

// sortRecords sorts records by id and, within an id, in the order their
// changes were made, so every journal file is a sorted run.
func sortRecords(recs []Record) {
	slices.SortStableFunc(recs, func(a, b Record) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return order(&a, &b)
	})
}

// encodeRun gzips records as JSON lines. The gzip header carries no time,
// so equal records give equal bytes.
func encodeRun(recs []Record) ([]byte, []byte) {
	var raw []byte
	for i := range recs {
		raw = recs[i].AppendLine(raw)
	}
	var z bytes.Buffer
	w, _ := gzip.NewWriterLevel(&z, gzip.DefaultCompression)
	w.Write(raw)
	w.Close()
	return z.Bytes(), raw
}

// WriteSegment stores one batch's records as a segment (docs/DESIGN.md
// §10.1), sorted by id, with one PUT that S3 verifies by its checksum. It
// returns the segment's key. A redelivered batch writes a segment of its
// own; readers count a change (stream ARN and sequence number) once.
func WriteSegment(ctx context.Context, b Bucket, dir string, recs []Record, now time.Time) (string, error) {
	recs = slices.Clone(recs)
	for i := range recs {
		recs[i].StoredMs = 0
	}
	sortRecords(recs)
	body, raw := encodeRun(recs)
	sum := sha256.Sum256(raw)
	key := SegmentKey(dir, now, hex.EncodeToString(sum[:8]))
	err := b.Put(ctx, key, body, true)
	if errors.Is(err, ErrExists) {
		// Same time and same records: this segment is stored already.
		return key, nil
	}
	return key, err
}
