package journal

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/units"
)

// CompactOptions are compact's flags.
type CompactOptions struct {
	Intervals   string
	BaseEvery   time.Duration
	KeepBases   int
	DeleteDelay time.Duration
	PartSize    units.Size
	// KeepExact and KeepHourly are the tiered retention (retention.go).
	KeepExact, KeepHourly units.Days
	// ExportBases stores each base also as a snapshot's files.
	ExportBases bool
}

// AddFlags adds --intervals, --base-every, --delete-delay and --part-size.
func (o *CompactOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Intervals, "intervals", "1m,1h", "the levels' time windows, level 1 first, each a multiple of the one before: segments become level-1 files of 1m windows, those level-2 files of 1h")
	fs.DurationVar(&o.BaseEvery, "base-every", DefaultBaseEvery, "write a base (the whole table's state) at each multiple of this (UTC), so a snapshot reads one base and the changes after it; 0: no bases")
	fs.IntVar(&o.KeepBases, "keep-bases", 7, "keep the newest N bases (0: all); older ones are deleted, since the level files hold every change and answer old times too, only more slowly")
	fs.DurationVar(&o.DeleteDelay, "delete-delay", DefaultDeleteDelay, "delete segments and lower-level files only once outputs covering them are this old, so that a reader that started before them can finish")
	o.PartSize = DefaultPartBytes
	fs.Var(&o.PartSize, "part-size", "cut an output's data files at this many bytes of JSON lines before compression (KiB, MiB, GiB)")
	fs.BoolVar(&o.ExportBases, "export-bases", true, "store each base also as a snapshot's data files and sidecars, which a snapshot at the base's time copies instead of writing its own (--export-bases=false: a base costs about half the storage, and such a snapshot the time of a full read)")
	fs.Var(&o.KeepExact, "keep-exact", "tiered retention: keep every change of this last while (e.g. 35d); older ones only as the last change of each hour, so a time between two whole hours is refused (0: keep every change)")
	fs.Var(&o.KeepHourly, "keep-hourly", "with --keep-exact: delete the history older than this (e.g. 1y), back to the newest base before it; times before that base are refused (0: keep the hourly history)")
}

// Apply puts the options into c.
func (o *CompactOptions) Apply(c *Compactor) error {
	c.Intervals = nil
	for _, s := range strings.Split(o.Intervals, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < time.Second {
			return fmt.Errorf("--intervals %q: want durations of at least 1s, e.g. 1m,1h", o.Intervals)
		}
		if n := len(c.Intervals); n > 0 && (d <= c.Intervals[n-1] || d%c.Intervals[n-1] != 0) {
			return fmt.Errorf("--intervals %q: each must be a larger multiple of the one before", o.Intervals)
		}
		c.Intervals = append(c.Intervals, d)
	}
	if o.BaseEvery < 0 || (o.BaseEvery > 0 && o.BaseEvery < time.Second) {
		return fmt.Errorf("--base-every %s: want 0 (no bases) or at least 1s", o.BaseEvery)
	}
	if o.KeepBases < 0 {
		return fmt.Errorf("--keep-bases %d: want 0 (all) or more", o.KeepBases)
	}
	if o.DeleteDelay < 0 {
		return fmt.Errorf("--delete-delay %s: must not be negative", o.DeleteDelay)
	}
	if o.PartSize < 1<<20 {
		return fmt.Errorf("--part-size %d: want at least 1MiB", o.PartSize)
	}
	c.BaseEvery, c.KeepBases, c.DeleteDelay, c.PartBytes = o.BaseEvery, o.KeepBases, o.DeleteDelay, int64(o.PartSize)
	c.NoExport = !o.ExportBases
	return o.applyRetention(c) // retention.go
}

// applyRetention checks and sets --keep-exact and --keep-hourly.
func (o *CompactOptions) applyRetention(c *Compactor) error {
	exact, hourly := time.Duration(o.KeepExact), time.Duration(o.KeepHourly)
	switch {
	case hourly > 0 && exact == 0:
		return fmt.Errorf("--keep-hourly %s needs --keep-exact: the window kept to the change", hourly)
	case exact > 0 && exact < time.Hour:
		return fmt.Errorf("--keep-exact %s: want at least 1h (the hourly tier's precision)", exact)
	case hourly > 0 && hourly <= exact:
		return fmt.Errorf("--keep-hourly %s must be longer than --keep-exact %s", hourly, exact)
	}
	c.KeepExact, c.KeepHourly = exact, hourly
	return nil
}
