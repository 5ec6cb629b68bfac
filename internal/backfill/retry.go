package backfill

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/aws/smithy-go"
)

// throttleCodes are the errors that mean "slow down": the SDK's retryer has
// already retried them; a long backfill rides out a longer spell of them
// instead of failing hours in.
var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"RequestLimitExceeded":                   true,
	"LimitExceededException":                 true,
	"SlowDown":                               true,
	"TooManyRequestsException":               true,
}

func isThrottle(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && throttleCodes[ae.ErrorCode()]
}

// backoffBase is a variable only so tests can shorten it.
var backoffBase = 200 * time.Millisecond

// retry calls fn until it succeeds, fails with a non-throttling error, or
// has been throttled attempts more times, sleeping with exponential backoff
// and full jitter in between.
func retry(ctx context.Context, attempts int, fn func() error) error {
	for i := 0; ; i++ {
		err := fn()
		if err == nil || !isThrottle(err) || i >= attempts {
			return err
		}
		d := min(backoffBase<<i, 20*time.Second)
		select {
		case <-time.After(rand.N(d) + d/4):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
