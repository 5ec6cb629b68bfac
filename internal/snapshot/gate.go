package snapshot

import (
	"cmp"
	"context"
	"errors"
	"sync"

	"github.com/dynasnap/dynasnap/internal/store"
)

// outputGate holds back every write to the output until the run's
// preflight checks have passed, the folder is prepared and _started is
// written. Those are several round trips, made beside the clock wait and
// the first listing pages instead of before them: on a link with tens of
// milliseconds per request they were a tenth of a small table's snapshot.
// A failed check still leaves the output untouched (docs/DESIGN.md §5.9).
type outputGate struct {
	done chan struct{}
	err  error // set before done closes
}

// openOutput starts the gate's work; a failure cancels ctx with its error,
// so the listing stops at once.
func openOutput(ctx context.Context, cancel context.CancelCauseFunc, out store.Store, opts *Options) *outputGate {
	g := &outputGate{done: make(chan struct{})}
	go func() {
		defer close(g.done)
		// Both run to their end, and the source's error is the one told:
		// with a wrong bucket owner both fail, and the answer should not
		// depend on which request came back first.
		var pre, prep error
		var wg sync.WaitGroup
		if opts.Preflight != nil {
			wg.Go(func() { pre = opts.Preflight(ctx) })
		}
		wg.Go(func() { prep = prepareOutput(ctx, out, opts.Shards > 0) })
		wg.Wait()
		err := cmp.Or(pre, prep)
		if err == nil {
			// As AWS does: an empty _started says the folder is writable
			// and the export has begun.
			err = out.Put(ctx, StartedName, nil)
		}
		if err != nil {
			g.err = err
			cancel(err)
		}
	}()
	return g
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
