package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// The peak RSS of a child, as wait4 reports it (ru_maxrss), is on Linux
// never lower than the peak RSS of the process that started it: at exec the
// kernel folds the high-water mark of the address space being left into the
// child's record (exec_mmap, setmax_mm_hiwater_rss), and Go starts children
// with vfork semantics (CLONE_VM), so that address space is the parent's
// (golang/go#32054). The bench grows to a few hundred MB (a 256-connection
// ceiling loop, the proxy, the listing of 400,000 latest versions), so
// every snapshot started after that would report the bench's peak. The
// bench therefore starts each snapshot through a shim: a fresh exec of its
// own binary, a few MB in size, that starts the snapshot, waits for it and
// hands back its rusage and wall time. The snapshot's ru_maxrss then starts
// from the shim's few MB, not the bench's peak.

// shimArg as the first argument makes the bench binary the shim.
const shimArg = "-rusage-shim"

// shimReport is what the shim writes to its fd 3 once the child is done.
type shimReport struct {
	Started  bool          `json:"started"`
	Error    string        `json:"error,omitempty"` // the child could not be started
	ExitCode int           `json:"exitCode"`
	Wall     time.Duration `json:"wall"` // start of the child to its exit
	User     time.Duration `json:"user"`
	Sys      time.Duration `json:"sys"`
	MaxRSSKB int64         `json:"maxRSSKB"`
}

// runShim runs args (a program and its arguments) with stdout and stderr
// passed through and reports on fd 3; it exits with the child's code.
func runShim(args []string) int {
	report := os.NewFile(3, "report")
	if report == nil || len(args) == 0 {
		fmt.Fprintln(os.Stderr, "dynasnap-bench "+shimArg+": run by the bench itself, with a report pipe on fd 3")
		return 2
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// If the shim dies (the bench killed it on a timeout), so does the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err := cmd.Start()
	if err != nil {
		json.NewEncoder(report).Encode(shimReport{Error: err.Error()}) //nolint:errcheck // the bench reports a missing report
		return 127
	}
	err = cmd.Wait()
	r := shimReport{Started: true, Wall: time.Since(start), ExitCode: cmd.ProcessState.ExitCode(),
		User: cmd.ProcessState.UserTime(), Sys: cmd.ProcessState.SystemTime()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSSKB = ru.Maxrss
	}
	if err := json.NewEncoder(report).Encode(r); err != nil {
		return 2
	}
	if r.ExitCode < 0 { // killed by a signal
		return 1
	}
	return r.ExitCode
}

// shimmed is one run through the shim.
type shimmed struct {
	Wall     time.Duration
	CPU      time.Duration // user + system of the child
	MaxRSS   int64         // bytes
	ExitCode int
}

// runShimmed runs bin with args through the shim, stdout and stderr to the
// given writers; ctx's end kills the shim and, with it, the child. An error
// is returned when the child did not run to an exit code of 0.
func runShimmed(ctx context.Context, bin string, args []string, stdout, stderr io.Writer) (shimmed, error) {
	self, err := os.Executable()
	if err != nil {
		return shimmed{}, fmt.Errorf("the bench's own binary, for the rusage shim: %w", err)
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return shimmed{}, err
	}
	defer rd.Close()
	cmd := exec.CommandContext(ctx, self, append([]string{shimArg, bin}, args...)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.ExtraFiles = []*os.File{wr}
	if err := cmd.Start(); err != nil {
		wr.Close()
		return shimmed{}, err
	}
	wr.Close()
	var b bytes.Buffer
	_, readErr := io.Copy(&b, rd)
	waitErr := cmd.Wait()
	var r shimReport
	if err := json.Unmarshal(b.Bytes(), &r); err != nil || readErr != nil {
		if waitErr == nil {
			waitErr = errors.New("no report")
		}
		return shimmed{}, fmt.Errorf("rusage shim: %w (report %q)", waitErr, b.String())
	}
	if !r.Started {
		return shimmed{}, fmt.Errorf("start %s: %s", bin, r.Error)
	}
	out := shimmed{Wall: r.Wall, CPU: r.User + r.Sys, MaxRSS: r.MaxRSSKB * 1024, ExitCode: r.ExitCode}
	if r.ExitCode != 0 {
		return out, fmt.Errorf("exit status %d", r.ExitCode)
	}
	return out, waitErr
}
