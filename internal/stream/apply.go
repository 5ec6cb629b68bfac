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
			st.skipped += r.skipped
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
		if h.cfg.SkipApplied && alreadyApplied(cur, c) {
			r.skipped++
			r.done++
			continue
		}
		var err error
		if c.image != nil {
			_, err = w.Put(ctx, c.key, c.image, c.meta, backup.PutOptions{})
		} else {
			_, err = w.Delete(ctx, c.key)
		}
		if err != nil {
			h.log.Debug("write failed", "object", c.objKey, "sequence_number", c.seq, "error", err.Error())
			r.err = err
			return r
		}
		if c.image != nil {
			r.puts++
			cur = backup.State{Exists: true, Seq: c.seq}
		} else {
			r.deletes++
			cur.Exists, cur.Deleted = false, true
		}
		h.log.Debug("applied", "object", c.objKey, "sequence_number", c.seq)
		r.done++
	}
	return r
}

// alreadyApplied reports whether the bucket already reflects change c: a
// version with a sequence number at or after c's exists (changes of a key
// are applied in order, so c was written before it), or c removes an item
// whose current version is already a delete marker.
func alreadyApplied(cur backup.State, c *change) bool {
	if cur.Seq != "" && backup.SeqLE(c.seq, cur.Seq) {
		return true
	}
	return c.image == nil && cur.Deleted
}
