package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Row is one line of the results table. A row with no Target is information
// only; a row with Err could not be measured.
type Row struct {
	Figure string
	Value  string
	Target string
	Met    bool
	Err    error
}

// Info is a row without a target.
func Info(figure, format string, args ...any) Row {
	return Row{Figure: figure, Value: fmt.Sprintf(format, args...)}
}

// Check is a row measured against a target.
func Check(figure, value, target string, met bool) Row {
	return Row{Figure: figure, Value: value, Target: target, Met: met}
}

// Failed is a row that could not be measured.
func Failed(figure string, err error) Row { return Row{Figure: figure, Err: err} }

// Report prints the table, then one line per missed target so that a miss
// cannot hide in the table. It returns how many targets were missed and how
// many figures could not be measured.
func Report(w io.Writer, rows []Row) (missed, failed int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tVALUE\tTARGET\tRESULT")
	for _, r := range rows {
		result := ""
		switch {
		case r.Err != nil:
			result, r.Value = "ERROR", "-"
			failed++
		case r.Target == "":
		case r.Met:
			result = "PASS"
		default:
			result = "MISSED"
			missed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Figure, r.Value, r.Target, result)
	}
	tw.Flush()
	for _, r := range rows {
		switch {
		case r.Err != nil:
			fmt.Fprintf(w, "ERROR   %s: %v\n", r.Figure, r.Err)
		case r.Target != "" && !r.Met:
			fmt.Fprintf(w, "MISSED  %s: %s, target %s\n", r.Figure, r.Value, r.Target)
		}
	}
	switch {
	case missed == 0 && failed == 0:
		fmt.Fprintln(w, "all targets met")
	default:
		var parts []string
		if missed > 0 {
			parts = append(parts, fmt.Sprintf("%d target(s) MISSED", missed))
		}
		if failed > 0 {
			parts = append(parts, fmt.Sprintf("%d figure(s) not measured (ERROR)", failed))
		}
		fmt.Fprintln(w, strings.Join(parts, ", "))
	}
	return missed, failed
}

// MB formats bytes as mebibytes.
func MB(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
