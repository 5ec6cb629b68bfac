package drill

import (
	"fmt"
	"io"
)

// Logger is told what a drill does, step by step, and what may need a
// look; the caller decides how each level is shown (the CLI prints Warnf
// and Errorf even with --quiet). The drill itself prints nothing.
type Logger interface {
	Printf(format string, args ...any)
	Warnf(format string, args ...any)
	Errorf(format string, args ...any)
}

type discard struct{}

func (discard) Printf(string, ...any) {}
func (discard) Warnf(string, ...any)  {}
func (discard) Errorf(string, ...any) {}

// LineLogger writes each message as a line to w, a warning prefixed with
// "warning: ": for tests, and callers with nothing but a writer.
func LineLogger(w io.Writer) Logger { return lineLogger{w} }

type lineLogger struct{ w io.Writer }

func (l lineLogger) Printf(format string, args ...any) { fmt.Fprintf(l.w, format+"\n", args...) }
func (l lineLogger) Warnf(format string, args ...any) {
	fmt.Fprintf(l.w, "warning: "+format+"\n", args...)
}
func (l lineLogger) Errorf(format string, args ...any) { fmt.Fprintf(l.w, format+"\n", args...) }
