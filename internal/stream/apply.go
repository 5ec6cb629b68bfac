package stream

import (
	"context"
	"sync"

	"github.com/dynasnap/dynasnap/internal/backup"
)

// batchStats is the outcome of applying a batch.
type batchStats struct {
	applied                      []bool // by position; skipped-as-already-applied counts as applied
	keys, puts, deletes, skipped int
	expired                      int // deletes made by TTL, recorded with a tombstone
	skippedBy                    [nReasons]int
	olderStream                  int
	firstErr                     string
	firstErrPos                  int
}

// apply runs one chain per object key, chains in parallel (bounded), each
// chain's changes in stream order, a chain stopping at its first failure so
// that no later change of that key lands before it.
func (h *Handler) apply(ctx context.Context, changes []*change) *batchStats {
	n := 0
	if len(changes) > 0 {
		n = changes[len(changes)-1].pos + 1
	}
	st := &batchStats{applied: make([]bool, n), firstErrPos: -1}
	var order []string
	chains := map[string][]*change{}
	for _, c := range changes {
		if _, ok := chains[c.objKey]; !ok {
			order = append(order, c.objKey)
		}
		chains[c.objKey] = append(chains[c.objKey], c)
	}
	st.keys = len(order)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, h.cfg.Concurrency)
	for _, k := range order {
		chain := chains[k]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := h.applyChain(ctx, chain)
			mu.Lock()
			defer mu.Unlock()
			for _, c := range chain[:r.done] {
				st.applied[c.pos] = true
			}
			st.puts += r.puts
			st.deletes += r.deletes
			st.expired += r.expired
			st.skipped += r.skipped
			for i, n := range r.skippedBy {
				st.skippedBy[i] += n
			}
			st.olderStream += r.olderStream
			if r.err != nil && (st.firstErrPos < 0 || chain[r.done].pos < st.firstErrPos) {
				st.firstErrPos = chain[r.done].pos
				st.firstErr = errString(r.err)
			}
		}()
	}
	wg.Wait()
	return st
}

type chainResult struct {
	done                   int // changes applied (or already present), a prefix of the chain
	puts, deletes, skipped int
	expired                int           // TTL deletes, a tombstone written before their marker
	skippedBy              [nReasons]int // skipped, by reason
	olderStream            int           // changes written from an older stream, or one of unknown order
	err                    error
}

func (h *Handler) applyChain(ctx context.Context, chain []*change) chainResult {
	var r chainResult
	w := backup.New(h.s3, h.cfg.Bucket, h.cfg.Prefix, chain[0].table)
	var cur backup.State
	if h.cfg.SkipApplied {
		var err error
		if cur, err = w.Current(ctx, h.s3, chain[0].key); err != nil {
			r.err = err
			return r
		}
	}
	for _, c := range chain {
		if err := ctx.Err(); err != nil {
			r.err = err
			return r
		}
		if h.cfg.SkipApplied {
			if why := alreadyApplied(cur, c); why != noSkip {
				if why == skipSameStream {
					// An operator can audit it: the object, never the item.
					h.log.Info("change skipped: the bucket holds a version of its stream at or after it",
						"object", c.objKey, "sequence_number", c.seq, "current_sequence_number", cur.Seq, "stream_arn", c.stream)
				} else {
					h.log.Debug("change skipped: "+why.String(), "object", c.objKey, "sequence_number", c.seq)
				}
				r.skipped++
				r.skippedBy[why]++
				r.done++
				continue
			}
			if ord := streamOrder(cur.Stream, c.stream); ord == olderStream || ord == unknownOrder {
				// Written all the same: a skip could lose a change, a write
				// at worst puts an older image on top, which the warning
				// lets an operator find.
				msg := "writing a change from an older stream than the current version's (two event source mappings?)"
				if ord == unknownOrder {
					msg = "writing a change from a stream that cannot be ordered against the current version's (a stream label missing or not a time, or the same label on another ARN)"
				}
				h.log.Warn(msg,
					"object", c.objKey, "sequence_number", c.seq, "stream_arn", c.stream,
					"current_stream_arn", cur.Stream, "current_sequence_number", cur.Seq)
				r.olderStream++
			}
		}
		var err error
		tomb := false
		switch {
		case c.image != nil:
			_, err = w.Put(ctx, c.key, c.image, c.meta, backup.PutOptions{})
		case c.ttl:
			// A delete marker carries no metadata: a tombstone before it
			// says TTL made it (docs/DESIGN.md §2.4).
			if tomb, err = w.Tombstone(ctx, h.s3, c.key, cur, c.meta); err == nil {
				_, err = w.Delete(ctx, c.key)
			}
		default:
			_, err = w.Delete(ctx, c.key)
		}
		if err != nil {
			h.log.Debug("write failed", "object", c.objKey, "sequence_number", c.seq, "error", err.Error())
			r.err = err
			return r
		}
		if c.image != nil {
			r.puts++
			cur = backup.State{Exists: true, Seq: c.seq, Stream: c.stream}
		} else {
			// A delete marker records nothing: the last image's sequence
			// number and stream stay what a replay compares with.
			r.deletes++
			if tomb {
				r.expired++
			}
			cur.Exists, cur.Deleted = false, true
		}
		h.log.Debug("applied", "object", c.objKey, "sequence_number", c.seq)
		r.done++
	}
	return r
}

// skipReason says why a change is taken as already applied.
type skipReason int

const (
	noSkip skipReason = iota
	// skipSameStream: the newest image in the bucket came from the same
	// stream with a sequence number at or after the change's.
	skipSameStream
	// skipDeleteApplied: a REMOVE of an item whose current version is a
	// delete marker.
	skipDeleteApplied
	nReasons
)

func (s skipReason) String() string {
	switch s {
	case skipSameStream:
		return "same stream"
	case skipDeleteApplied:
		return "delete already applied"
	}
	return "not skipped"
}

// alreadyApplied reports whether the bucket already reflects change c, and
// why. Sequence numbers are ordered only within one stream, so a version
// counts only if it came from c's own stream (recorded in its metadata): a
// version with a sequence number at or after c's exists (changes of a key
// are applied in order, so c was written before it). A version of another
// stream, or one with no stream recorded (backfill, older writers, other
// tools), never makes a change skipped by its sequence number. Apart from
// that, a REMOVE of an item whose current version is already a delete
// marker changes nothing.
func alreadyApplied(cur backup.State, c *change) skipReason {
	if c.stream != "" && cur.Stream == c.stream && cur.Seq != "" && backup.SeqLE(c.seq, cur.Seq) {
		return skipSameStream
	}
	if c.image == nil && cur.Deleted {
		return skipDeleteApplied
	}
	return noSkip
}

// order is how the stream of a change relates to the stream of the
// current version.
type order int

const (
	sameOrNone   order = iota // the same stream, or the current version records none
	newerStream               // the change's stream label is later
	olderStream               // the change's stream label is earlier
	unknownOrder              // a label missing or not a time, or equal labels of different ARNs
)

// streamOrder compares the change's stream ARN with the current version's
// by their stream labels, the times the streams began.
func streamOrder(cur, change string) order {
	if cur == "" || cur == change {
		return sameOrNone
	}
	ct, err1 := StreamLabelTime(cur)
	nt, err2 := StreamLabelTime(change)
	switch {
	case err1 != nil || err2 != nil || nt.Equal(ct):
		return unknownOrder
	case nt.After(ct):
		return newerStream
	}
	return olderStream
}
