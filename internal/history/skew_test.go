package history_test

import (
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
)

// The options carry the allowance encoded (TimeOptions.Skew): 0 is the
// default, negative is none; Skew is the one place that reads it.
func TestSkewDecodes(t *testing.T) {
	for opt, want := range map[time.Duration]time.Duration{0: history.DefaultClockSkew, -1: 0, 3 * time.Second: 3 * time.Second} {
		if got := history.Skew(opt); got != want {
			t.Errorf("Skew(%v) = %v, want %v", opt, got, want)
		}
	}
	o := history.TimeOptions{}
	if got := history.Skew(o.Skew()); got != 0 {
		t.Errorf("--clock-skew 0 decodes to %v, want none", got)
	}
}
