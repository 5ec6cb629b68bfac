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
