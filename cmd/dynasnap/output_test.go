package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// With --json a failure is a JSON object on stdout, beside the message on
// stderr; without --json stdout stays empty.
func TestJSONFailure(t *testing.T) {
	for _, c := range []struct {
		args  []string
		code  int
		usage bool
		error string
	}{
		{[]string{"snapshot", "--json"}, 2, true, "--source and --out are required"},
		{[]string{"snapshot", "--json", "--no-such-flag"}, 2, true, "unknown flag: --no-such-flag"},
		{[]string{"forget", "--snapshots", "/nonexistent/snaps", "--keep-last", "1", "--json"}, 2, true, "--snapshots: stat /nonexistent/snaps"},
	} {
		stdout, stderr, code := cli(c.args...)
		var e jsonError
		if err := json.Unmarshal([]byte(stdout), &e); err != nil {
			t.Fatalf("%v: stdout is not one JSON object (%v): %q", c.args, err, stdout)
		}
		if code != c.code || e.ExitCode != c.code || e.Usage != c.usage || e.Command != c.args[0] || !strings.HasPrefix(e.Error, c.error) {
			t.Errorf("%v: exit %d, %+v", c.args, code, e)
		}
		if !strings.Contains(stderr, e.Error) {
			t.Errorf("%v: stderr %q does not hold the message", c.args, stderr)
		}
		stdout, _, _ = cli(slices.DeleteFunc(slices.Clone(c.args), func(s string) bool { return s == "--json" })...)
		if stdout != "" {
			t.Errorf("%v without --json: stdout %q", c.args, stdout)
		}
	}
}

// Warnings print with --quiet; the summary and progress do not.
func TestPrinterLevels(t *testing.T) {
	var out, errw strings.Builder
	a := &app{stdout: &out, stderr: &errw}
	a.commands = map[string]command{"x": {run: func(_ context.Context, a *app, args []string) error {
		fs := newFlags(a, "x", "x", "")
		a.opts.Add(fs)
		if err := parse(fs, args); err != nil {
			return err
		}
		a.out.Printf("summary")
		a.out.Verbosef("step")
		a.out.Warnf("partial")
		a.out.Errorf("broken")
		return nil
	}}}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "summary\nwarning: partial\nbroken\n"},
		{[]string{"--quiet"}, "warning: partial\nbroken\n"},
		{[]string{"-v"}, "summary\nstep\nwarning: partial\nbroken\n"},
	} {
		errw.Reset()
		a.opts = outputOptions{}
		a.term, a.stderr = nil, &errw
		if code := a.main(context.Background(), append([]string{"x"}, c.args...)); code != 0 || errw.String() != c.want {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errw.String(), c.want)
		}
	}
}
