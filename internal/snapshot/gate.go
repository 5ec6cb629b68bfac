package snapshot

import (
	"cmp"
	"context"
	"errors"
	"sync"

	"github.com/dynasnap/dynasnap/internal/store"
)

// outputGate holds back every write to the output until the run's
// preflight checks have passed and the folder is claimed (_started). Those are several round trips, made beside the clock wait and
// the first listing pages instead of before them: on a link with tens of
// milliseconds per request they were a tenth of a small table's snapshot.
// A failed check still leaves the output untouched (docs/DESIGN.md §5.9).
type outputGate struct {
	done chan struct{}
	err  error // set before done closes
	// claim holds the folder once the checks passed (nil before, or on
	// failure).
	claim *Claimed
}

// openOutput starts the gate's work; a failure cancels ctx with its error,
// so the listing stops at once.
func openOutput(ctx context.Context, cancel context.CancelCauseFunc, out store.Store, opts *Options) *outputGate {
	g := &outputGate{done: make(chan struct{})}
	go func() {
		defer close(g.done)
		// Both run to their end, and the source's error is the one told:
		// with a wrong bucket owner both fail, and the answer should not
		// depend on which request came back first. The look at the
		// folder is read-only; the claim is made once both passed, so a
		// failed check leaves the folder untouched.
		var pre, look error
		var listed []string
		var wg sync.WaitGroup
		if opts.Preflight != nil {
			wg.Go(func() { pre = opts.Preflight(ctx) })
		}
		wg.Go(func() { listed, look = store.Some(ctx, out, someNames) })
		wg.Wait()
		err := cmp.Or(pre, look)
		if err == nil {
			g.claim, err = ClaimOutput(ctx, out, outputSpec(opts), listed)
		}
		if err == nil && opts.Shards > 0 {
			// As AWS does: an empty _started says the export has begun.
			// The shards share it: the first one writes it.
			var h *store.Held
			if h, err = store.Claim(ctx, out, StartedName, nil); err == nil {
				h.Release()
			} else if errors.Is(err, store.ErrClaimed) {
				err = nil
			}
		}
		if err != nil {
			if g.claim != nil {
				g.claim.Abandon(ctx)
				g.claim = nil
			}
			g.err = err
			cancel(err)
		}
	}()
	return g
}

// outputSpec is the claim a run of opts makes on its folder.
func outputSpec(opts *Options) OutputSpec {
	id := ExportID(opts.At, opts.Source.String(), opts.FilterText)
	return SnapshotSpec(NewClaimRecord(opts.Tool, id, opts.Source.String()), opts.Shard, opts.Shards)
}

// finish ends the run's claim once the gate is done: released when the run
// finished, abandoned (its files removed, then the claim) when it did not.
func (g *outputGate) finish(ctx context.Context, err error) {
	<-g.done
	if g.claim == nil {
		return
	}
	if err != nil {
		g.claim.Abandon(ctx)
	} else {
		g.claim.Release(context.WithoutCancel(ctx))
	}
}

// wait returns once the output may be written to, or why it may not.
func (g *outputGate) wait(ctx context.Context) error {
	select {
	case <-g.done:
		return g.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// cause is the gate's own error once it is done, when it failed for a
// reason of its own rather than because the run was already stopping: a
// walk stopped by a failed check reports the check, not "canceled".
func (g *outputGate) cause() error {
	<-g.done
	if g.err == nil || errors.Is(g.err, context.Canceled) || errors.Is(g.err, context.DeadlineExceeded) {
		return nil
	}
	return g.err
}
