// Package retry is the one retry helper of restore and backfill: backoff
// with jitter and a cap, a rate limiter for capacity units, and which AWS
// errors are worth another attempt.
package retry

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Backoff is exponential backoff with full jitter: before retry number
// attempt (1 for the first), a random wait in [Base/2, min(Cap,
// Base*2^attempt)], so that many workers throttled at once do not all come
// back at the same moment.
type Backoff struct {
	Base, Cap time.Duration
}

// Delay is the wait before retry number attempt.
func (b Backoff) Delay(attempt int) time.Duration {
	ceil := b.Cap
	if attempt < 30 && b.Base<<attempt < b.Cap {
		ceil = b.Base << attempt
	}
	lo := b.Base / 2
	if ceil <= lo {
		return lo
	}
	return lo + rand.N(ceil-lo)
}

// Do calls fn until it succeeds, fails with an error retryable does not
// accept, or has been retried attempts times, sleeping b.Delay between
// calls. A cancelled ctx ends the wait at once with ctx's error.
func Do(ctx context.Context, b Backoff, attempts int, retryable func(error) bool, fn func() error) error {
	for i := 1; ; i++ {
		err := fn()
		if err == nil || !retryable(err) || i > attempts {
			return err
		}
		if err := Sleep(ctx, b.Delay(i)); err != nil {
			return err
		}
	}
}

// Sleep waits for d or until ctx ends, whichever is first; it returns ctx's
// error if ctx ended first. A d of 0 or less returns nil at once.
func Sleep(ctx context.Context, d time.Duration) error {
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

// IsThrottle reports whether err means "slow down": an AWS error code the
// SDK's standard retryer treats as throttling (ThrottlingException,
// ProvisionedThroughputExceededException, SlowDown, ...).
func IsThrottle(err error) bool {
	return awsretry.IsErrorThrottles(awsretry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}

// Retryable reports whether a failed call is worth sending again:
// throttling, or what the SDK's standard retryer treats as transient (5xx,
// connection resets, timeouts), or a response cut short mid-body. A
// cancelled or expired context is not.
func Retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if IsThrottle(err) {
		return true
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected EOF") {
		return true
	}
	return awsretry.IsErrorRetryables(awsretry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// Limiter caps a rate of units a second (capacity units), allowing a burst
// of one Burst interval's worth: a token bucket kept as the generic cell
// rate algorithm, where each unit spent moves the theoretical arrival time
// forward by 1/rate. A nil *Limiter does not limit; it is safe for
// concurrent use.
type Limiter struct {
	rate  float64
	burst time.Duration
	mu    sync.Mutex
	tat   time.Time // when the units spent so far are paid off
}

// NewLimiter returns a limiter of rate units a second with a burst of burst
// (0: none), or nil, which does not limit, if rate is not positive.
func NewLimiter(rate float64, burst time.Duration) *Limiter {
	if rate <= 0 {
		return nil
	}
	return &Limiter{rate: rate, burst: max(burst, 0)}
}

// Reserve spends n units and returns how long to wait before using them
// (0: at once). With n 0 it only reports the wait until the units already
// spent are paid off, beyond the burst.
func (l *Limiter) Reserve(n float64) time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.tat.Before(now) {
		l.tat = now
	}
	if n > 0 {
		l.tat = l.tat.Add(time.Duration(n / l.rate * float64(time.Second)))
	}
	return max(l.tat.Sub(now)-l.burst, 0)
}

// Wait spends n units and waits until they are allowed, or until ctx ends.
// For costs known only afterwards, Wait(ctx, 0) before the call and Spend
// after it.
func (l *Limiter) Wait(ctx context.Context, n float64) error {
	return Sleep(ctx, l.Reserve(n))
}

// Spend records n units already used, without waiting: the next Wait pays
// for them.
func (l *Limiter) Spend(n float64) {
	if n > 0 {
		l.Reserve(n)
	}
}
