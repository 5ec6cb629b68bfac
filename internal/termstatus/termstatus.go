// Package termstatus owns the stream a command writes its messages to
// (stderr) and keeps a status line apart from them, as restic's termstatus
// does. On a terminal the status line sits below the messages and is
// rewritten in place; a message first erases it and draws it again after
// itself, so the two never share a line. Elsewhere (a file, a pipe, a log
// collector) every status is a line of its own, since nothing can be
// rewritten there.
//
// Whether the stream is a terminal is told to New, never guessed from the
// writer's type: a writer wrapped for locking or counting hides the
// *os.File underneath, and snapshot's progress line once never updated in
// place for that reason.
package termstatus

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// Terminal is safe for concurrent use: one lock orders every write, so a
// status update from the progress goroutine and a warning from a worker
// never interleave.
type Terminal struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	width  int    // columns, 0: unknown
	status string // the status line on screen now (terminal only)
	// partial holds what Write was given after its last newline: a
	// message is printed whole, once its line is complete.
	partial []byte
}

// New makes a Terminal on w. isTerminal says whether w is a terminal that
// understands a carriage return and "erase to end of line" (IsTerminal
// tells for an *os.File); width is its width in columns, 0 when unknown.
func New(w io.Writer, isTerminal bool, width int) *Terminal {
	return &Terminal{w: w, tty: isTerminal, width: width}
}

// IsTerminal reports whether status lines are rewritten in place.
func (t *Terminal) IsTerminal() bool { return t.tty }

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\033[K"

// Print writes msg as one line (a newline is added when it has none).
func (t *Terminal) Print(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	t.printLocked(msg)
}

// printLocked writes whole lines, moving the status line below them.
func (t *Terminal) printLocked(lines string) {
	if t.tty && t.status != "" {
		io.WriteString(t.w, clearLine+lines+t.status)
		return
	}
	io.WriteString(t.w, lines)
}

// SetStatus shows line as the status: in place on a terminal, as a line of
// its own elsewhere. An empty line clears it.
func (t *Terminal) SetStatus(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	line = strings.TrimRight(line, "\n")
	if !t.tty {
		if line != "" {
			io.WriteString(t.w, line+"\n")
		}
		return
	}
	// A line wider than the terminal wraps, and the carriage return then
	// rewrites only its last row: cut it to fit instead.
	if t.width > 1 && utf8.RuneCountInString(line) > t.width-1 {
		r := []rune(line)
		line = string(r[:t.width-1])
	}
	if line == "" && t.status == "" {
		return
	}
	t.status = line
	io.WriteString(t.w, clearLine+line)
}

// ClearStatus removes the status line, leaving the cursor at the start of
// an empty line (the end of a phase, before its summary).
func (t *Terminal) ClearStatus() { t.SetStatus("") }

// Write lets code that writes lines (fmt.Fprintf, a log/slog handler,
// flag usage) go through the terminal: complete lines are printed as
// messages at once, a line without its newline waits for the rest.
func (t *Terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	if i := bytes.LastIndexByte(t.partial, '\n'); i >= 0 {
		t.printLocked(string(t.partial[:i+1]))
		t.partial = append(t.partial[:0], t.partial[i+1:]...)
	}
	return len(p), nil
}

// Flush prints a line Write left unfinished, and leaves the status line
// off the screen: what is written after Flush (by a process that outlives
// the command, say) starts on a line of its own.
func (t *Terminal) Flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.partial) > 0 {
		t.printLocked(string(t.partial) + "\n")
		t.partial = t.partial[:0]
	}
	if t.tty && t.status != "" {
		io.WriteString(t.w, clearLine)
		t.status = ""
	}
}
