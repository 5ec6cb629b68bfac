// Package forget removes old snapshots from a folder of snapshots by a
// keep policy with restic's semantics (docs/DESIGN.md §7): --keep-last,
// --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly,
// --keep-yearly and --keep-within, by each snapshot's exportTime in UTC.
package forget

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Unlimited as a count keeps one snapshot in every period.
const Unlimited = -1

// Policy is what to keep. A snapshot matching any rule is kept.
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
	Within                                       Duration
}

// Empty says no rule is set: forget refuses it (it would keep nothing).
func (p Policy) Empty() bool {
	return p.Last == 0 && p.Hourly == 0 && p.Daily == 0 && p.Weekly == 0 && p.Monthly == 0 && p.Yearly == 0 && p.Within.Zero()
}

func (p Policy) String() string {
	var parts []string
	for _, r := range []struct {
		n    int
		name string
	}{{p.Last, "last"}, {p.Hourly, "hourly"}, {p.Daily, "daily"}, {p.Weekly, "weekly"}, {p.Monthly, "monthly"}, {p.Yearly, "yearly"}} {
		switch {
		case r.n == Unlimited:
			parts = append(parts, "every "+r.name)
		case r.n > 0:
			parts = append(parts, fmt.Sprintf("%d %s", r.n, r.name))
		}
	}
	if !p.Within.Zero() {
		parts = append(parts, "all within "+p.Within.String()+" of the newest")
	}
	return "keep " + strings.Join(parts, ", ")
}

// Duration is restic's --keep-within duration: years, months, days and
// hours, as in 2y5m7d3h (m is months).
type Duration struct{ Years, Months, Days, Hours int }

// Zero says the duration is empty.
func (d Duration) Zero() bool { return d == Duration{} }

func (d Duration) String() string {
	var b strings.Builder
	for _, p := range []struct {
		n int
		u string
	}{{d.Years, "y"}, {d.Months, "m"}, {d.Days, "d"}, {d.Hours, "h"}} {
		if p.n != 0 {
			fmt.Fprintf(&b, "%d%s", p.n, p.u)
		}
	}
	return b.String()
}

// Before is t minus the duration (calendar years, months and days, then
// hours).
func (d Duration) Before(t time.Time) time.Time {
	return t.AddDate(-d.Years, -d.Months, -d.Days).Add(-time.Duration(d.Hours) * time.Hour)
}

var durationRE = regexp.MustCompile(`^(\d+)([ymdh])`)

// ParseDuration reads 2y5m7d3h (any of the parts, in any order, each
// once).
func ParseDuration(s string) (Duration, error) {
	var d Duration
	rest := s
	seen := map[string]bool{}
	for rest != "" {
		m := durationRE.FindStringSubmatch(rest)
		if m == nil || seen[m[2]] {
			return Duration{}, fmt.Errorf("%q: want years, months, days and hours as in 1y6m7d12h (m is months, as in restic)", s)
		}
		seen[m[2]] = true
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return Duration{}, fmt.Errorf("%q: %v", s, err)
		}
		switch m[2] {
		case "y":
			d.Years = n
		case "m":
			d.Months = n
		case "d":
			d.Days = n
		case "h":
			d.Hours = n
		}
		rest = rest[len(m[0]):]
	}
	if d.Zero() && s != "" {
		return d, fmt.Errorf("%q: a zero duration keeps nothing", s)
	}
	return d, nil
}

// Snap is one finished snapshot as the policy sees it.
type Snap struct {
	Name string
	Time time.Time
}

// Decision is the policy's verdict on one snapshot.
type Decision struct {
	Snap
	Keep    bool
	Reasons []string
}

// periods: restic's calendar buckets, on natural boundaries in UTC; weeks
// are ISO weeks, Monday 00:00 to Sunday 24:00.
var periods = []struct {
	name string
	of   func(t time.Time) int
}{
	{"hourly", func(t time.Time) int { return int(t.Unix() / 3600) }},
	{"daily", func(t time.Time) int { y, m, d := t.Date(); return y*10000 + int(m)*100 + d }},
	{"weekly", func(t time.Time) int { y, w := t.ISOWeek(); return y*100 + w }},
	{"monthly", func(t time.Time) int { y, m, _ := t.Date(); return y*100 + int(m) }},
	{"yearly", func(t time.Time) int { return t.Year() }},
}

// Apply decides, newest first, which snapshots the policy keeps:
//
//   - --keep-last n: the n newest;
//   - --keep-hourly/daily/weekly/monthly/yearly n: for the last n periods
//     that have snapshots, the newest snapshot of each (restic's "for the
//     last n days which have one or more snapshots, keep only the most
//     recent one for each day"); when the snapshots run out with counts
//     left, the oldest snapshot is kept too ("oldest daily snapshot");
//   - --keep-within D: every snapshot with a time after the newest's
//     minus D;
//
// a snapshot matching any rule is kept. Times after now are kept and not
// counted (restic ignores them). The newest snapshot not in the future is
// always kept, whatever the policy says.
func Apply(snaps []Snap, p Policy, now time.Time) []Decision {
	list := make([]Decision, len(snaps))
	for i, s := range snaps {
		list[i] = Decision{Snap: Snap{Name: s.Name, Time: s.Time.UTC()}}
	}
	sort.SliceStable(list, func(i, j int) bool {
		if !list[i].Time.Equal(list[j].Time) {
			return list[i].Time.After(list[j].Time)
		}
		return list[i].Name > list[j].Name
	})
	var past []*Decision
	for i := range list {
		if list[i].Time.After(now) {
			list[i].Keep, list[i].Reasons = true, []string{"exportTime in the future"}
			continue
		}
		past = append(past, &list[i])
	}
	if len(past) == 0 {
		return list
	}
	latest := past[0].Time
	counts := []int{p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly}
	last := []int{-1, -1, -1, -1, -1}
	lastN := p.Last
	for i, d := range past {
		keep := func(reason string) { d.Keep, d.Reasons = true, append(d.Reasons, reason) }
		if i == 0 {
			keep("newest finished snapshot (never removed)")
		}
		if lastN != 0 {
			keep("last snapshot")
			if lastN > 0 {
				lastN--
			}
		}
		for k, per := range periods {
			if counts[k] == 0 {
				continue
			}
			v := per.of(d.Time)
			oldest := i == len(past)-1
			if v != last[k] || oldest {
				reason := per.name + " snapshot"
				if v == last[k] {
					reason = "oldest " + reason
				}
				keep(reason)
				last[k] = v
				if counts[k] > 0 {
					counts[k]--
				}
			}
		}
		if !p.Within.Zero() && d.Time.After(p.Within.Before(latest)) {
			keep("within " + p.Within.String() + " of the newest")
		}
	}
	return list
}
