// Package progress reports long work on stderr: counts, rates and, when the
// total is known, an ETA. It prints nothing when quiet.
package progress

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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
	w        io.Writer
	counters []*Counter
	start    time.Time
	interval time.Duration
	tty      bool
	stop     chan struct{}
	wg       sync.WaitGroup
	quiet    bool
	last     map[*Counter]int64
}

// New makes a reporter on w for the counters; quiet makes it silent.
func New(w io.Writer, quiet bool, counters ...*Counter) *Reporter {
	r := &Reporter{w: w, counters: counters, start: time.Now(), interval: 10 * time.Second, quiet: quiet,
		stop: make(chan struct{}), last: map[*Counter]int64{}}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			r.tty, r.interval = true, time.Second
		}
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
	if r.tty {
		fmt.Fprint(r.w, "\r\033[K")
	}
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
	line := fmt.Sprintf("%s: %s%s", time.Since(r.start).Round(time.Second), strings.Join(parts, ", "), eta)
	if r.tty {
		fmt.Fprintf(r.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(r.w, line)
	}
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

// Locked returns w made safe for the reporter and the run's own messages
// to write to at once.
func Locked(w io.Writer) io.Writer { return &lockedWriter{w: w} }

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
