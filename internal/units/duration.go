package units

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDays reads a retention duration: a Go duration (90m, 36h), or a
// whole number of days (d), weeks (w) or years (y, 365 days), e.g. 35d, 1y.
func ParseDays(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"y", 365 * 24 * time.Hour}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.Atoi(num)
			if err != nil || n < 0 || n > 1000*365 {
				return 0, fmt.Errorf("%q: want a duration such as 35d, 2w, 1y or 36h", s)
			}
			return time.Duration(n) * u.d, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want a duration such as 35d, 2w, 1y or 36h", s)
	}
	return d, nil
}

// Days is a retention-duration flag value (pflag.Value): 35d, 1y, 36h.
type Days time.Duration

func (d *Days) Set(v string) error {
	n, err := ParseDays(v)
	if err != nil {
		return err
	}
	*d = Days(n)
	return nil
}

func (d *Days) String() string {
	if *d == 0 {
		return "0"
	}
	return time.Duration(*d).String()
}
func (d *Days) Type() string { return "duration" }
