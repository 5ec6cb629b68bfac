package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/termstatus"
)

// outputOptions are the output flags every command shares, declared here
// once (restic's GlobalOptions). The AWS group is awsconf.Options.
type outputOptions struct {
	Quiet   bool
	Verbose bool
	JSON    bool
}

// Add declares --quiet and --verbose.
func (o *outputOptions) Add(fs *pflag.FlagSet) {
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "no progress and no summary on stderr; errors and warnings still print")
	fs.BoolVarP(&o.Verbose, "verbose", "v", false, "also say what is being done, step by step, on stderr")
}

// AddJSON declares --json, for a command with a machine-readable result.
func (o *outputOptions) AddJSON(fs *pflag.FlagSet) {
	fs.BoolVar(&o.JSON, "json", false, "print the result as JSON on stdout (docs/JSON.md); a failure is a JSON object too")
}

// jsonRequested tells whether args ask for --json, for a failure before
// (or while) the flags are parsed.
func jsonRequested(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return a == "--json" || a == "--json=true" })
}

// printer writes a command's messages by level to the terminal (stderr),
// and its JSON result to stdout. The levels:
//
//   - Errorf: always.
//   - Warnf: always, even with --quiet: a warning says the result may not be
//     what was asked for (a partial history, an empty snapshot).
//   - Printf: progress narrative and summaries; not with --quiet.
//   - Verbosef: with --verbose only.
type printer struct {
	term   *termstatus.Terminal
	stdout io.Writer
	opts   *outputOptions
	// wroteJSON is set once the command printed its JSON result: a report
	// that carries its own failure (drill, verify) needs no error object.
	wroteJSON bool
}

func (p *printer) Errorf(format string, args ...any) { p.term.Print(fmt.Sprintf(format, args...)) }

func (p *printer) Warnf(format string, args ...any) {
	p.term.Print("warning: " + fmt.Sprintf(format, args...))
}

func (p *printer) Printf(format string, args ...any) {
	if !p.opts.Quiet {
		p.term.Print(fmt.Sprintf(format, args...))
	}
}

func (p *printer) Verbosef(format string, args ...any) {
	if p.opts.Verbose && !p.opts.Quiet {
		p.term.Print(fmt.Sprintf(format, args...))
	}
}

// JSON writes v as the command's JSON result, one line on stdout.
func (p *printer) JSON(v any) error { return p.JSONEncoder().Encode(v) }

// JSONEncoder is for a result written in pieces or indented.
func (p *printer) JSONEncoder() *json.Encoder {
	p.wroteJSON = true
	return json.NewEncoder(p.stdout)
}

// jsonError is a failure under --json (docs/JSON.md).
type jsonError struct {
	Command  string `json:"command"`
	Error    string `json:"error"`
	ExitCode int    `json:"exitCode"`
	// Usage is true for bad flags or arguments (exit 2).
	Usage bool `json:"usage,omitempty"`
	// Interrupted is true when a signal stopped the command (exit 130).
	Interrupted bool `json:"interrupted,omitempty"`
}

// fail reports a command's failure: a line on stderr, and with --json an
// object on stdout unless the command's own report already says it.
func (p *printer) fail(jsonOut bool, e jsonError, hint string) {
	msg := fmt.Sprintf("dynasnap %s: %s", e.Command, e.Error)
	if e.Interrupted {
		msg = fmt.Sprintf("dynasnap %s: interrupted: %s", e.Command, e.Error)
	}
	p.term.Print(strings.TrimRight(msg+"\n"+hint, "\n"))
	if jsonOut && !p.wroteJSON {
		json.NewEncoder(p.stdout).Encode(e)
	}
}
