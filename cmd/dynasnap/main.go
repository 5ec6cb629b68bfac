// Command dynasnap makes point-in-time snapshots of DynamoDB tables from
// their continuous backups in an S3 versioned bucket, and restores them.
// One file per subcommand: cmd_<name>.go.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/awserr"
	"github.com/dynasnap/dynasnap/internal/termstatus"
)

// command is one subcommand. run gets the arguments after the command name.
type command struct {
	summary string
	run     func(ctx context.Context, app *app, args []string) error
}

// app carries what every command writes to; no global state.
type app struct {
	// stderr is term once main starts: every line written to it goes
	// around the status line, so nothing a command prints tears it.
	stdout, stderr io.Writer
	commands       map[string]command
	// term owns stderr; nil until main, which makes one that is not a
	// terminal unless the caller (func main) made a terminal one.
	term *termstatus.Terminal
	// opts are the shared output flags, declared by each command on its
	// flag set (outputOptions.Add) and read by out and by main on failure.
	opts outputOptions
	out  *printer
}

// usageError makes main print the command's usage and exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError carries a specific exit code (verify uses 3 for "differs").
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tty, width := termstatus.IsTerminal(os.Stderr)
	a := &app{stdout: os.Stdout, stderr: os.Stderr, term: termstatus.New(os.Stderr, tty, width)}
	a.commands = commands()
	// A CPU profile of a real run is the quickest way to see where time goes.
	if path := os.Getenv("DYNASNAP_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			code := a.main(ctx, os.Args[1:])
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(code)
		}
	}
	os.Exit(a.main(ctx, os.Args[1:]))
}

func commands() map[string]command {
	return map[string]command{
		"athena-ddl": {"print the CREATE EXTERNAL TABLE statement that lets Athena query a snapshot (Parquet or JSON lines)", cmdAthenaDDL},
		"audit":      {"is the backup complete? the live table compared item by item with its backup (exit 3 on drift)", cmdAudit},
		"backfill":   {"copy an existing table into the backup layout (parallel Scan), to seed a late-started stream", cmdBackfill},
		"compact":    {"merge a change journal's segments into levels and bases, so backups cost per batch and snapshots read bytes", cmdCompact},
		"diff":       {"the items changed between two times, as incremental-export JSON lines", cmdDiff},
		"drill":      {"the automated DR test: restore the newest snapshot into a scratch table, verify it, delete it; measure RPO and RTO", cmdDrill},
		"fleet":      {"run a command (snapshot, compact, drill, forget, ...) for every table of a backup prefix, one failing never stopping the others; a summary at the end", cmdFleet},
		"forget":     {"remove old snapshots from a folder of snapshots by a keep policy (restic's --keep-daily, --keep-weekly, ...)", cmdForget},
		"history":    {"every version of one item, with what each change did: the audit log", cmdHistory},
		"restore":    {"write a snapshot, or the backup at a point in time, into a DynamoDB table", cmdRestore},
		"snapshot":   {"fold the backup versions into a snapshot at a point in time", cmdSnapshot},
		"status":     {"one line per backed-up table: the writer's lag, history horizon, newest snapshot, drill and audit; exit 3 past a threshold", cmdStatus},
		"verify":     {"compare a table with a snapshot: missing, extra, different items (the DR drill)", cmdVerify},
		"version":    {"print the version", cmdVersion},
	}
}

func (a *app) main(ctx context.Context, args []string) int {
	if a.term == nil {
		a.term = termstatus.New(a.stderr, false, 0)
	}
	a.stderr = a.term
	a.out = &printer{term: a.term, stdout: a.stdout, opts: &a.opts}
	defer a.term.Flush()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			return a.main(ctx, []string{args[1], "--help"})
		}
		a.usage(a.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := a.commands[args[0]]
	if !ok {
		fmt.Fprintf(a.stderr, "dynasnap: unknown command %q\n\n", args[0])
		a.usage(a.stderr)
		return 2
	}
	rest, debug := takeDebug(args[1:])
	err := cmd.run(ctx, a, rest)
	if err == nil || errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	// A failure is a line on stderr and, with --json, an object on stdout:
	// a script reading stdout gets JSON either way. In plain words
	// (awserr.Text: the resource and what to do, no SDK text); --debug
	// adds the whole error chain.
	e, hint := jsonError{Command: args[0], Error: awserr.Text(err), ExitCode: 1}, ""
	var ue usageError
	var ee exitError
	switch {
	case errors.As(err, &ue):
		e.Error, e.ExitCode, e.Usage = ue.msg, 2, true
		hint = fmt.Sprintf("run 'dynasnap %s --help' for usage", args[0])
	case errors.As(err, &ee):
		e.Error, e.ExitCode = awserr.Text(ee.err), ee.code
	case ctx.Err() != nil:
		e.ExitCode, e.Interrupted = 130, true
	}
	if debug {
		hint = strings.TrimPrefix(hint+"\ndebug: "+err.Error(), "\n")
	}
	a.out.fail(a.opts.JSON || jsonRequested(rest), e, hint)
	return e.ExitCode
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintln(w, "dynasnap: point-in-time snapshots and restores of DynamoDB tables from S3 versioned backups")
	fmt.Fprintln(w, "\nUsage: dynasnap <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(a.commands))
	for n := range a.commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, a.commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'dynasnap <command> --help' for the flags of a command, with examples.")
	fmt.Fprintln(w, "Every command takes --debug: errors then also print in full, AWS request IDs included.")
	fmt.Fprintln(w, "AWS credentials and region come from the default chain (environment, profile, SSO, IMDS);")
	fmt.Fprintln(w, "endpoints from AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB or --endpoint-url.")
}
