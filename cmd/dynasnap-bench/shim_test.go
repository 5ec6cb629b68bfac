package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
)

// TestMain lets the test binary act as the shim, as the bench binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == shimArg {
		os.Exit(runShim(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// A child started directly reports the parent's peak RSS as its own; one
// started through the shim reports its own.
func TestShimPeakRSSIsTheChilds(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the inherited peak is a Linux exec rule")
	}
	bin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1)")
	}
	const big = 256 << 20
	ballast := make([]byte, big)
	for i := range ballast {
		ballast[i] = 1
	}
	direct := exec.Command(bin)
	if err := direct.Run(); err != nil {
		t.Fatal(err)
	}
	inherited := direct.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	var out bytes.Buffer
	got, err := runShimmed(context.Background(), bin, nil, &out, &out)
	if err != nil {
		t.Fatalf("shim: %v (%s)", err, out.String())
	}
	runtime.KeepAlive(ballast)
	t.Logf("true(1): %d MB started directly, %d MB through the shim", inherited>>20, got.MaxRSS>>20)
	if inherited < big {
		t.Logf("this kernel does not pass the parent's peak on (%d MB); the shim is then merely harmless", inherited>>20)
	}
	if got.MaxRSS >= 64<<20 {
		t.Fatalf("through the shim true(1) reports %d MB peak RSS: the parent's peak leaked in", got.MaxRSS>>20)
	}
	if got.ExitCode != 0 || got.Wall <= 0 {
		t.Fatalf("report %+v", got)
	}
}

// A failing child is an error with its exit code; a missing one too.
func TestShimExitCodes(t *testing.T) {
	f, err := exec.LookPath("false")
	if err != nil {
		t.Skip("no false(1)")
	}
	var out bytes.Buffer
	got, err := runShimmed(context.Background(), f, nil, &out, &out)
	if err == nil || got.ExitCode != 1 {
		t.Fatalf("false(1): %+v, %v", got, err)
	}
	if _, err := runShimmed(context.Background(), "/nonexistent/dynasnap", nil, &out, &out); err == nil {
		t.Fatal("a missing binary ran")
	}
}
