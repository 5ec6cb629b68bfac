package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

func TestBackoff(t *testing.T) {
	b := Backoff{Base: 50 * time.Millisecond, Cap: 2 * time.Second}
	for attempt := 1; attempt < 40; attempt++ {
		for range 50 {
			d := b.Delay(attempt)
			ceil := min(b.Cap, b.Base<<min(attempt, 30))
			if d < b.Base/2 || d > ceil {
				t.Fatalf("attempt %d: %v out of [%v, %v]", attempt, d, b.Base/2, ceil)
			}
		}
	}
	// Jitter: many draws at one attempt are not all equal.
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[b.Delay(5)] = true
	}
	if len(seen) < 5 {
		t.Fatalf("backoff has no jitter: %v", seen)
	}
	// A cap under Base/2 still waits Base/2.
	if d := (Backoff{Base: time.Second, Cap: time.Millisecond}).Delay(3); d != 500*time.Millisecond {
		t.Fatalf("cap below base/2: %v", d)
	}
}

var throttled = &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "slow down"}

func TestDoRetriesUpToAttempts(t *testing.T) {
	b := Backoff{Base: time.Microsecond, Cap: time.Millisecond}
	calls := 0
	err := Do(context.Background(), b, 3, IsThrottle, func() error { calls++; return throttled })
	if !errors.Is(err, throttled) || calls != 4 {
		t.Fatalf("%v after %d calls; want the throttle after 1 call and 3 retries", err, calls)
	}
	calls = 0
	err = Do(context.Background(), b, 3, IsThrottle, func() error {
		calls++
		if calls < 3 {
			return throttled
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("%v after %d calls", err, calls)
	}
}

func TestDoGivesUpOnOtherErrors(t *testing.T) {
	calls := 0
	boom := errors.New("boom")
	err := Do(context.Background(), Backoff{Base: time.Millisecond, Cap: time.Millisecond}, 5, IsThrottle, func() error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("%v after %d calls", err, calls)
	}
}

func TestDoStopsWaitingOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	err := Do(ctx, Backoff{Base: time.Hour, Cap: time.Hour}, 5, IsThrottle, func() error { return throttled })
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
}

func TestClassification(t *testing.T) {
	for _, c := range []struct {
		err                 error
		throttle, retryable bool
	}{
		{throttled, true, true},
		{fmt.Errorf("scan: %w", &smithy.GenericAPIError{Code: "ThrottlingException"}), true, true},
		{&smithy.GenericAPIError{Code: "SlowDown"}, true, true},
		{&smithy.GenericAPIError{Code: "ValidationException"}, false, false},
		{&smithy.GenericAPIError{Code: "ResourceNotFoundException"}, false, false},
		{fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), false, true},
		{errors.New("boom"), false, false},
		{context.Canceled, false, false},
		{fmt.Errorf("call: %w", context.DeadlineExceeded), false, false},
	} {
		if got := IsThrottle(c.err); got != c.throttle {
			t.Errorf("IsThrottle(%v) = %v", c.err, got)
		}
		if got := Retryable(c.err); got != c.retryable {
			t.Errorf("Retryable(%v) = %v", c.err, got)
		}
	}
}

func TestLimiter(t *testing.T) {
	var none *Limiter
	if NewLimiter(0, time.Second) != nil {
		t.Fatal("a rate of 0 limits")
	}
	if d := none.Reserve(1e9); d != 0 {
		t.Fatalf("nil limiter waits %v", d)
	}
	none.Spend(1e9)
	if err := none.Wait(context.Background(), 1e9); err != nil {
		t.Fatal(err)
	}

	// 100 units a second with a one second burst: the first 100 units are
	// free, the next 50 wait about half a second.
	l := NewLimiter(100, time.Second)
	if d := l.Reserve(100); d != 0 {
		t.Fatalf("within the burst: wait %v", d)
	}
	if d := l.Reserve(50); d < 400*time.Millisecond || d > 500*time.Millisecond {
		t.Fatalf("50 units past the burst: wait %v, want about 500ms", d)
	}

	// No burst, paid afterwards: Spend makes the next Wait(0) wait.
	l = NewLimiter(1000, 0)
	if d := l.Reserve(0); d != 0 {
		t.Fatalf("nothing spent: wait %v", d)
	}
	l.Spend(100)
	if d := l.Reserve(0); d < 50*time.Millisecond || d > 100*time.Millisecond {
		t.Fatalf("100 units at 1,000/s: wait %v, want about 100ms", d)
	}
	start := time.Now()
	if err := l.Wait(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Fatalf("Wait returned after %v", el)
	}
}

func TestLimiterWaitStopsOnCancel(t *testing.T) {
	l := NewLimiter(1, 0)
	l.Spend(3600) // an hour's worth
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	if err := l.Wait(ctx, 0); !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
}
