package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// On this machine the server and the client share the same few cores, so a
// snapshot that does more server work per item than the ceiling (listing
// versions costs SeaweedFS CPU too) is slower for that reason alone. The
// bench therefore also prints where the CPU time went, server and client,
// per item: the figures that explain a ratio.

// serverCPU reads the CPU time SeaweedFS has used so far, from the PID file
// scripts/stack.sh writes; ok is false where that is not available (another
// S3 server, or not Linux).
func serverCPU() (time.Duration, bool) {
	dir := os.Getenv("DYNASNAP_STACK_DIR")
	if dir == "" {
		dir = ".stack"
	}
	pid, err := os.ReadFile(filepath.Join(dir, "seaweedfs.pid"))
	if err != nil {
		return 0, false
	}
	return processCPU(strings.TrimSpace(string(pid)))
}

// processCPU is utime+stime of a process, from /proc/PID/stat.
func processCPU(pid string) (time.Duration, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const ticks = 100 // USER_HZ, 100 on every Linux the stack runs on
	return time.Duration(ut+st) * time.Second / ticks, true
}

// cpuMeter measures the server's CPU over one phase.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startServerCPU() cpuMeter {
	c, ok := serverCPU()
	return cpuMeter{start: c, ok: ok}
}

// stop returns the server CPU used since start.
func (m cpuMeter) stop() (time.Duration, bool) {
	c, ok := serverCPU()
	if !ok || !m.ok {
		return 0, false
	}
	return c - m.start, true
}

// machineCPU is the busy time of all the machine's cores so far, from
// /proc/stat (everything but idle and iowait).
func machineCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is in user already
			continue
		}
		busy += n
	}
	const ticks = 100 // USER_HZ
	return time.Duration(busy) * time.Second / ticks, true
}

// otherMeter measures the CPU that neither the server, nor the bench
// process (which runs the ceiling loops and the proxy), nor the measured
// child used during a phase: other work on a shared machine, which
// disturbs a figure. The log prints it beside each run.
type otherMeter struct {
	machine, server, self time.Duration
	ok                    bool
}

func startOther() otherMeter {
	m, ok1 := machineCPU()
	s, ok2 := serverCPU()
	return otherMeter{machine: m, server: s, self: cpuTime(), ok: ok1 && ok2}
}

// stop returns the others' CPU since start; child is the measured
// subprocess's (0 for a loop in the bench itself).
func (m otherMeter) stop(child time.Duration) (time.Duration, bool) {
	mc, ok1 := machineCPU()
	s, ok2 := serverCPU()
	if !m.ok || !ok1 || !ok2 {
		return 0, false
	}
	return max(0, (mc-m.machine)-(s-m.server)-(cpuTime()-m.self)-child), true
}

// progressLog is where waitQuiet reports; Run sets it.
var progressLog io.Writer = io.Discard

// Quiet is the most CPU, in cores, that the rest of the machine (the
// server included, the bench itself not) may use for a run to start; it
// waits at most quietMax for that.
const quietCores = 0.15

// quietMax is -quiet-wait: on a machine busy with other work for long,
// a shorter wait trades quiet for a run that ends.
var quietMax = 3 * time.Minute

// waitQuiet waits until the machine, apart from the bench, has been
// quiet for a second: other engineers' tests on the same two cores, or
// the server still busy from the run before, would be measured with the
// next run. It gives up after quietMax and says so on log.
func waitQuiet(ctx context.Context) {
	log := progressLog
	start := time.Now()
	for {
		m, ok := machineCPU()
		self := cpuTime()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		m2, ok2 := machineCPU()
		if !ok || !ok2 {
			return
		}
		busy := ((m2 - m) - (cpuTime() - self)).Seconds()
		if busy < quietCores {
			if waited := time.Since(start); waited > 3*time.Second {
				fmt.Fprintf(log, "  (waited %.0fs for the machine to be quiet)\n", waited.Seconds())
			}
			return
		}
		if time.Since(start) > quietMax {
			fmt.Fprintf(log, "  the rest of the machine still uses %.2f cores after %v; measuring anyway\n", busy, quietMax)
			return
		}
	}
}

// A run during which the rest of the machine used more than disturbedCores
// (the server and the bench not counted) is taken again, up to
// retriesDisturbed times: two shared cores leave no margin for a figure
// taken while someone else's tests run.
const (
	disturbedCores   = 0.3
	retriesDisturbed = 2
)

func disturbed(other time.Duration, ok bool, seconds float64) bool {
	return ok && seconds > 0 && other.Seconds()/seconds > disturbedCores
}

// undisturbed runs f again while its result was disturbed, at most
// retriesDisturbed more times, and returns the last result.
func undisturbed[T interface {
	Disturbed() bool
	Other() string
}](f func() (T, error)) (T, error) {
	for i := 0; ; i++ {
		r, err := f()
		if err != nil || !r.Disturbed() {
			return r, err
		}
		if i == retriesDisturbed {
			fmt.Fprintf(progressLog, "  disturbed (%s) %d times; keeping it\n", r.Other(), i+1)
			return r, nil
		}
		fmt.Fprintf(progressLog, "  disturbed (%s); again\n", r.Other())
	}
}

// load formats CPU time over a wall time as cores in use.
func load(d time.Duration, seconds float64) string {
	if seconds <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f cores", d.Seconds()/seconds)
}

func perItem(d time.Duration, n int) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f ms", d.Seconds()*1000/float64(n))
}

// waitServerIdle waits until the server uses less than a tenth of a core,
// up to max: after a seeding SeaweedFS keeps working in the background for
// minutes (seen: a full core for eleven minutes after 730,000 writes), and
// figures taken meanwhile measure that work as much as the snapshot.
func waitServerIdle(ctx context.Context, max time.Duration, log io.Writer) {
	const window = 2 * time.Second
	deadline := time.Now().Add(max)
	said := false
	for {
		m := startServerCPU()
		select {
		case <-ctx.Done():
			return
		case <-time.After(window):
		}
		used, ok := m.stop()
		if !ok {
			return
		}
		load := used.Seconds() / window.Seconds()
		if load < 0.1 {
			if said {
				fmt.Fprintf(log, "  SeaweedFS is idle (%.0f%% of a core)\n", load*100)
			}
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(log, "  SeaweedFS still uses %.0f%% of a core after %v; measuring anyway\n", load*100, max)
			return
		}
		if !said {
			fmt.Fprintf(log, "waiting for SeaweedFS to finish its background work before measuring (%.0f%% of a core)\n", load*100)
			said = true
		}
	}
}
