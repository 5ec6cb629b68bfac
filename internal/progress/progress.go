// Package progress reports long work as a status line: counts, rates and,
// when the total is known, an ETA. It prints nothing when quiet.
package progress

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Display shows the status line; termstatus.Terminal is one. The reporter
// asks it whether it is a terminal instead of guessing from a writer's
// type: a wrapped *os.File (a locked writer, say) looked like a pipe, and
// the line never updated in place.
type Display interface {
	SetStatus(line string)
	ClearStatus()
	IsTerminal() bool
}

// Intervals between reports: on a terminal the line is rewritten in place,
// twice a second so that it never looks stuck; elsewhere every report is a
// line of a log, so fewer.
const (
	TerminalInterval = 500 * time.Millisecond
	LogInterval      = 10 * time.Second
)

// Counter is one named count shown in the progress line.
type Counter struct {
	Name  string
	Unit  string // "bytes" formats as MB
	n     atomic.Int64
	total atomic.Int64 // 0: unknown
}

func (c *Counter) Add(n int64)      { c.n.Add(n) }
func (c *Counter) Load() int64      { return c.n.Load() }
func (c *Counter) SetTotal(n int64) { c.total.Store(n) }

// Reporter prints a progress line every interval until stopped.
type Reporter struct {
	d        Display
	counters []*Counter
	start    time.Time
	interval time.Duration
	stop     chan struct{}
	wg       sync.WaitGroup
	quiet    bool
	last     map[*Counter]int64
}

// New makes a reporter on d for the counters; quiet makes it silent.
func New(d Display, quiet bool, counters ...*Counter) *Reporter {
	r := &Reporter{d: d, counters: counters, start: time.Now(), interval: LogInterval, quiet: quiet,
		stop: make(chan struct{}), last: map[*Counter]int64{}}
	if d.IsTerminal() {
		r.interval = TerminalInterval
	}
	return r
}

// Start prints until Stop or ctx ends.
func (r *Reporter) Start(ctx context.Context) {
	if r.quiet {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.stop:
				return
			case <-t.C:
				r.print()
			}
		}
	}()
}

// Stop ends the progress line.
func (r *Reporter) Stop() {
	if r.quiet {
		return
	}
	close(r.stop)
	r.wg.Wait()
	r.d.ClearStatus()
}

func (r *Reporter) print() {
	elapsed := time.Since(r.start).Seconds()
	var parts []string
	eta := ""
	for _, c := range r.counters {
		n := c.Load()
		rate := float64(n) / elapsed
		parts = append(parts, fmt.Sprintf("%s %s (%s/s)", c.Name, format(n, c.Unit), format(int64(rate), c.Unit)))
		if total := c.total.Load(); total > 0 && rate > 0 && n < total {
			eta = fmt.Sprintf(", ETA %s", (time.Duration(float64(total-n)/rate) * time.Second).Round(time.Second))
		}
	}
	r.d.SetStatus(fmt.Sprintf("%s: %s%s", time.Since(r.start).Round(time.Second), strings.Join(parts, ", "), eta))
}

func format(n int64, unit string) string {
	if unit == "bytes" {
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	s := fmt.Sprint(n)
	// Thousands separators: long counts are read at a glance.
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
