package forget

import (
	"sort"
	"strings"
	"testing"
	"time"
)

// snapshots spread over three months (2026: Jan 1 is a Thursday, so ISO
// week 2 starts Monday Jan 5; Feb 15 and Mar 1 are Sundays).
var spread = []Snap{
	{"A", at("2026-01-05T10:00:00Z")}, // Mon, week 2, January
	{"B", at("2026-01-20T10:00:00Z")}, // Tue, week 4
	{"C", at("2026-02-02T09:00:00Z")}, // Mon, week 6, February
	{"D", at("2026-02-15T23:00:00Z")}, // Sun, week 7
	{"E", at("2026-03-01T00:30:00Z")}, // Sun, week 9, March
	{"F", at("2026-03-02T08:00:00Z")}, // Mon, week 10
	{"G", at("2026-03-02T20:00:00Z")},
	{"H", at("2026-03-03T01:00:00Z")}, // Tue
	{"I", at("2026-03-03T01:40:00Z")},
	{"J", at("2026-03-03T02:10:00Z")}, // the newest
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The expected decisions are written from restic's documentation of each
// option (doc/060_forget.rst), not from running the code.
func TestPolicy(t *testing.T) {
	now := at("2026-03-03T12:00:00Z")
	within := func(s string) Duration {
		d, err := ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases := []struct {
		name   string
		p      Policy
		keep   string
		reason map[string]string // a reason a kept snapshot must have
	}{
		// "keep the n last (most recent) snapshots"
		{"keep-last 3", Policy{Last: 3}, "HIJ", map[string]string{"H": "last snapshot"}},
		// "for the last n hours which have one or more snapshots, keep only
		// the most recent one for each hour": 02h (J), 01h (I; H is the same hour)
		{"keep-hourly 2", Policy{Hourly: 2}, "IJ", map[string]string{"I": "hourly snapshot"}},
		{"keep-hourly 3", Policy{Hourly: 3}, "GIJ", nil},
		// days: Mar 3 (J), Mar 2 (G)
		{"keep-daily 2", Policy{Daily: 2}, "GJ", map[string]string{"G": "daily snapshot"}},
		// Monday-to-Sunday weeks: week 10 (J), week 9 (E, Sunday Mar 1)
		{"keep-weekly 2", Policy{Weekly: 2}, "EJ", map[string]string{"E": "weekly snapshot"}},
		// months: March (J), February (D), January (B)
		{"keep-monthly 3", Policy{Monthly: 3}, "BDJ", nil},
		// "If there are not enough snapshots to keep one for each ... the
		// oldest snapshot is kept additionally"
		{"keep-monthly 5", Policy{Monthly: 5}, "ABDJ", map[string]string{"A": "oldest monthly snapshot"}},
		// 7 days with snapshots, fewer than 10: the newest of each day
		{"keep-daily 10", Policy{Daily: 10}, "ABCDEGJ", nil},
		// "keep all snapshots having a timestamp within the specified
		// duration of the latest snapshot": after Mar 1 02:10
		{"keep-within 2d", Policy{Within: within("2d")}, "FGHIJ", map[string]string{"F": "within 2d"}},
		// a calendar month before Mar 3 02:10 is Feb 3 02:10: C (Feb 2) goes
		{"keep-within 1m", Policy{Within: within("1m")}, "DEFGHIJ", nil},
		{"keep-within 36h", Policy{Within: within("36h")}, "FGHIJ", nil},
		// the results are ORed
		{"daily 2, weekly 2, monthly 2", Policy{Daily: 2, Weekly: 2, Monthly: 2}, "DEGJ", map[string]string{"J": "monthly snapshot"}},
		{"last 1, monthly 2", Policy{Last: 1, Monthly: 2}, "DJ", nil},
		{"unlimited daily", Policy{Daily: Unlimited}, "ABCDEGJ", nil},
		// the newest is kept whatever the policy: a weekly policy keeps it
		// as the week's newest anyway, and it is marked
		{"newest", Policy{Yearly: 1}, "J", map[string]string{"J": "newest finished snapshot"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := Apply(spread, c.p, now)
			var kept []string
			reasons := map[string]string{}
			for _, d := range ds {
				if d.Keep {
					kept = append(kept, d.Name)
					reasons[d.Name] = strings.Join(d.Reasons, ", ")
				} else if len(d.Reasons) != 0 {
					t.Errorf("%s removed with reasons %q", d.Name, d.Reasons)
				}
			}
			sort.Strings(kept)
			if got := strings.Join(kept, ""); got != c.keep {
				t.Errorf("kept %s, want %s (reasons %v)", got, c.keep, reasons)
			}
			for n, r := range c.reason {
				if !strings.Contains(reasons[n], r) {
					t.Errorf("%s kept for %q, want %q", n, reasons[n], r)
				}
			}
		})
	}
}

// restic's own example: one backup every Sunday for 12 weeks, then
// --keep-daily 4 keeps the last four Sundays.
func TestPolicyResticExample(t *testing.T) {
	var snaps []Snap
	for i := range 12 {
		snaps = append(snaps, Snap{string(rune('a' + i)), at("2019-09-01T11:00:00Z").AddDate(0, 0, 7*i)})
	}
	ds := Apply(snaps, Policy{Daily: 4}, at("2019-11-18T00:00:00Z"))
	var kept string
	for _, d := range ds {
		if d.Keep {
			kept = d.Name + kept
		}
	}
	if kept != "ijkl" {
		t.Errorf("kept %s, want the last four Sundays ijkl", kept)
	}
}

func TestPolicyFuture(t *testing.T) {
	now := at("2026-03-03T12:00:00Z")
	snaps := append([]Snap{{"K", at("2026-03-05T00:00:00Z")}}, spread...)
	ds := Apply(snaps, Policy{Within: Duration{Days: 1}}, now)
	var kept string
	for _, d := range ds {
		if d.Keep {
			kept = d.Name + kept
		}
	}
	// K is kept, not counted; within 1d is measured from J, the newest in the past
	if kept != "FGHIJK" {
		t.Errorf("kept %s, want FGHIJK", kept)
	}
}

func TestParseDuration(t *testing.T) {
	for s, want := range map[string]Duration{"2y5m7d3h": {2, 5, 7, 3}, "7d": {Days: 7}, "36h": {Hours: 36}, "1m": {Months: 1}, "": {}} {
		if got, err := ParseDuration(s); err != nil || got != want {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	for _, s := range []string{"1w", "5", "d", "1d1d", "0d", "-1d", "1h30m0s"} {
		if _, err := ParseDuration(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}
