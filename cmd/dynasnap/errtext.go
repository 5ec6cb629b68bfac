package main

import (
	"fmt"
	"io"

	"github.com/dynasnap/dynasnap/internal/awserr"
)

// takeDebug removes --debug from a command's arguments (anywhere before a
// "--"): every command takes it, and it changes only how errors print.
func takeDebug(args []string) ([]string, bool) {
	out := make([]string, 0, len(args))
	debug := false
	for i, a := range args {
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if a == "--debug" || a == "--debug=true" {
			debug = true
			continue
		}
		if a == "--debug=false" {
			continue
		}
		out = append(out, a)
	}
	return out, debug
}

// printErr prints a command's error: in plain words (awserr.Text: the
// resource and what to do, no SDK text or request IDs); with --debug, the
// whole error chain as well, request IDs included.
func printErr(w io.Writer, debug bool, command, prefix string, err error) {
	fmt.Fprintf(w, "dynasnap %s: %s%s\n", command, prefix, awserr.Text(err))
	if debug {
		fmt.Fprintf(w, "debug: %v\n", err)
	}
}
