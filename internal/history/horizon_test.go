package history

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHorizon(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	folder := "dynasnap/orders"
	date := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		rules  []LifecycleRule
		at     time.Time
		bad    bool
		oldest time.Time
		want   string
	}{
		{name: "no rules", at: now.Add(-1000 * Day)},
		{name: "noncurrent 1 day, inside", rules: []LifecycleRule{{ID: "nc", Enabled: true, NoncurrentSet: true, NoncurrentDays: 1}},
			at: now.Add(-23 * time.Hour), oldest: now.Add(-Day)},
		{name: "noncurrent 1 day, exactly at the horizon", rules: []LifecycleRule{{ID: "nc", Enabled: true, NoncurrentSet: true, NoncurrentDays: 1}},
			at: now.Add(-Day), oldest: now.Add(-Day)},
		{name: "noncurrent 1 day, two days back", rules: []LifecycleRule{{ID: "nc", Enabled: true, NoncurrentSet: true, NoncurrentDays: 1}},
			at: now.Add(-2 * Day), bad: true, oldest: now.Add(-Day), want: `lifecycle rule "nc"`},
		{name: "newer noncurrent keeps more but bounds nothing", rules: []LifecycleRule{{ID: "k", Enabled: true, NoncurrentSet: true, NoncurrentDays: 3, NewerNoncurrent: 5}},
			at: now.Add(-4 * Day), bad: true, oldest: now.Add(-3 * Day), want: "newest 5"},
		{name: "disabled rule", rules: []LifecycleRule{{ID: "off", NoncurrentSet: true, NoncurrentDays: 1}}, at: now.Add(-10 * Day)},
		{name: "other prefix", rules: []LifecycleRule{{ID: "o", Enabled: true, Prefix: "logs/", NoncurrentSet: true, NoncurrentDays: 1}}, at: now.Add(-10 * Day)},
		{name: "sibling table with a longer name", rules: []LifecycleRule{{ID: "o", Enabled: true, Prefix: "dynasnap/orders2/", NoncurrentSet: true, NoncurrentDays: 1}}, at: now.Add(-10 * Day)},
		{name: "parent prefix", rules: []LifecycleRule{{ID: "p", Enabled: true, Prefix: "dyna", NoncurrentSet: true, NoncurrentDays: 1}},
			at: now.Add(-10 * Day), bad: true, oldest: now.Add(-Day)},
		{name: "prefix inside the folder", rules: []LifecycleRule{{ID: "in", Enabled: true, Prefix: "dynasnap/orders/ab", NoncurrentSet: true, NoncurrentDays: 1}},
			at: now.Add(-10 * Day), bad: true, oldest: now.Add(-Day)},
		{name: "tag condition counted", rules: []LifecycleRule{{ID: "tag", Enabled: true, Conditional: true, NoncurrentSet: true, NoncurrentDays: 2}},
			at: now.Add(-3 * Day), bad: true, oldest: now.Add(-2 * Day), want: "tag or size"},
		{name: "strictest of two", rules: []LifecycleRule{
			{ID: "a", Enabled: true, NoncurrentSet: true, NoncurrentDays: 30},
			{ID: "b", Enabled: true, NoncurrentSet: true, NoncurrentDays: 7}},
			at: now.Add(-8 * Day), bad: true, oldest: now.Add(-7 * Day), want: `"b"`},
		{name: "expiration days: never exact", rules: []LifecycleRule{{ID: "exp", Enabled: true, ExpirationDays: 90}},
			at: now, bad: true, want: "no time can be told exact"},
		{name: "expiration date, before", rules: []LifecycleRule{{ID: "d", Enabled: true, ExpirationDate: date}}, at: now},
		{name: "expiration date, after", rules: []LifecycleRule{{ID: "d", Enabled: true, ExpirationDate: date.Add(-Day)}},
			at: now.Add(5 * Day), bad: true, want: "newest exact time"},
		{name: "expired delete markers move nothing", rules: []LifecycleRule{{ID: "edm", Enabled: true, ExpiredObjectDeleteMarker: true}}, at: now.Add(-100 * Day)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := NewHorizon("b", folder, now, c.rules)
			if got, _ := h.Oldest(); !got.Equal(c.oldest) {
				t.Errorf("oldest %v, want %v", got, c.oldest)
			}
			warns, err := h.Check(false, At{"--at", c.at})
			if (err != nil) != c.bad {
				t.Fatalf("err %v, want error %v", err, c.bad)
			}
			if len(warns) != 0 {
				t.Errorf("warnings %q", warns)
			}
			if err != nil {
				if !errors.Is(err, ErrBeyondHorizon) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "--allow-partial-history") {
					t.Errorf("error %q, want %q", err, c.want)
				}
				warns, err := h.Check(true, At{"--at", c.at})
				if err != nil || len(warns) != 1 || !strings.HasPrefix(warns[0], "PARTIAL HISTORY") {
					t.Errorf("allowed: %q %v", warns, err)
				}
			}
		})
	}
}

func TestHorizonMessage(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	h := NewHorizon("b", "p/t", now, []LifecycleRule{{ID: "nc1", Enabled: true, NoncurrentSet: true, NoncurrentDays: 1}})
	_, err := h.Check(false, At{"--from", now.Add(-2 * Day)}, At{"--to", now})
	want := `beyond the history's horizon: --from 2026-11-24T12:00:00Z is before the history's horizon: lifecycle rule "nc1" expires noncurrent versions 1 day after they become noncurrent, so the oldest exact time is 2026-11-25T12:00:00Z (bucket b)`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
