package backfill

import (
	"context"
	"sync"
	"time"
)

// limiter keeps the consumed read capacity at or under rate units per
// second over all segments. A page's cost is known only after it is read,
// so it is paid afterwards: the next Scan waits until the debt is cleared.
type limiter struct {
	rate float64
	mu   sync.Mutex
	next time.Time // when the capacity spent so far is paid off
}

func newLimiter(rate float64) *limiter { return &limiter{rate: rate} }

func (l *limiter) wait(ctx context.Context) error {
	if l.rate <= 0 {
		return nil
	}
	l.mu.Lock()
	d := time.Until(l.next)
	l.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *limiter) spend(units float64) {
	if l.rate <= 0 || units <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	l.next = l.next.Add(time.Duration(units / l.rate * float64(time.Second)))
}
