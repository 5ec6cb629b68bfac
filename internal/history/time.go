package history

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/retry"
)

// The time rule (docs/DESIGN.md §3) lives here and only here: how a time
// flag is read, what the default is, and when a listing may start.

// DefaultClockSkew is how far the S3 server's clock may be ahead of this
// machine's; a listing for T waits this long after T's second is over.
const DefaultClockSkew = time.Second

// ParseTime reads a point in time: RFC 3339, or a duration ago (-2h and 2h
// both mean two hours ago).
//
// Forms that would mean something else than they say are refused: a
// duration with a plus sign (it reads as "from now"), and a time before
// S3 existed (2006), which no backup can hold and which is most likely a
// typo or an unset value (year 1, the Unix epoch).
func ParseTime(s string, now time.Time) (time.Time, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "+") {
		return time.Time{}, fmt.Errorf("%q reads as a time from now, and the backup holds only the past: write -%s for that long ago", s, strings.TrimPrefix(strings.TrimSpace(s), "+"))
	}
	t, err := parseTime(s, now)
	if err == nil && t.Before(Earliest) {
		return t, fmt.Errorf("%q is %s, before S3 existed: no backup holds it (a typo?)", s, t.UTC().Format(time.RFC3339))
	}
	return t, err
}

// Earliest is the earliest time a time flag accepts: S3 opened in 2006.
var Earliest = time.Date(2006, 1, 1, 0, 0, 0, 0, time.UTC)

func parseTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d > 0 {
			d = -d
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-26T09:30:00Z) nor a duration ago (-2h)", s)
	}
	return t, nil
}

// Resolve reads a time flag. Empty means the default: the whole second in
// which the command started. LastModified has whole-second precision, so
// every version written in that second, before the command started or
// not, is part of the state at it; Wait holds the listing back until the
// second is over. A time after now is an error: the backup holds only the
// past.
func Resolve(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now.Truncate(time.Second), nil
	}
	t, err := ParseTime(s, now)
	if err != nil {
		return t, err
	}
	if t.After(now) {
		return t, fmt.Errorf("%s is in the future; the backup holds only the past", t.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// Listable is when a listing that reads the state at t may start: once the
// second t falls in is over on the server's clock too, so no version the
// server will still stamp with that second is written after the listing.
func Listable(t time.Time, skew time.Duration) time.Time {
	return t.Truncate(time.Second).Add(time.Second + skew)
}

// Skew decodes the clock-skew allowance as the packages' options carry it
// (TimeOptions.Skew encodes it): 0 means DefaultClockSkew, negative none.
func Skew(opt time.Duration) time.Duration {
	switch {
	case opt == 0:
		return DefaultClockSkew
	case opt < 0:
		return 0
	}
	return opt
}

// Wait sleeps until a listing for t may start; skew is the allowance as
// the options carry it (see Skew).
func Wait(ctx context.Context, t time.Time, skew time.Duration) error {
	return retry.Sleep(ctx, time.Until(Listable(t, Skew(skew))))
}

// Window is the two fold times of the window [from, to) (docs/DESIGN.md
// §3, diff's window): the states just before each end, that is with
// LastModified (a journal's effective time, §10.4) before from and before
// to. Times are whole seconds, and the fold keeps entries at or before its
// time, so these are the folds at from − 1ns and to − 1ns. With them, a
// key's entries in the window are those at positions Pos[1] to Pos[0]−1,
// and Pos[1] entries are at or after to. diff and restore --undo read a
// window through it.
func Window(from, to time.Time) []time.Time {
	return []time.Time{from.Add(-time.Nanosecond), to.Add(-time.Nanosecond)}
}

// FormatTime is how times appear in messages.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}
