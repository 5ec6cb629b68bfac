package termstatus

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// On a terminal the status is rewritten in place, and a message takes the
// status's line and draws it again below itself.
func TestTerminalKeepsStatusApart(t *testing.T) {
	var b strings.Builder
	term := New(&b, true, 0)
	term.SetStatus("1s: 10 items")
	term.SetStatus("2s: 20 items")
	term.Print("warning: something")
	term.SetStatus("3s: 30 items")
	fmt.Fprintf(term, "a line in ")
	fmt.Fprintf(term, "two writes\n")
	term.ClearStatus()
	term.Print("done")
	want := "\r\033[K1s: 10 items" + "\r\033[K2s: 20 items" +
		"\r\033[Kwarning: something\n2s: 20 items" + "\r\033[K3s: 30 items" +
		"\r\033[Ka line in two writes\n3s: 30 items" + "\r\033[K" + "done\n"
	if got := b.String(); got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// Elsewhere every status is a line, and nothing is rewritten.
func TestNotATerminal(t *testing.T) {
	var b strings.Builder
	term := New(&b, false, 0)
	term.SetStatus("1s: 10 items")
	term.Print("warning: something")
	term.ClearStatus()
	fmt.Fprint(term, "unfinished")
	term.Flush()
	if got, want := b.String(), "1s: 10 items\nwarning: something\nunfinished\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// A status wider than the terminal is cut, so the carriage return still
// rewrites all of it.
func TestStatusFitsTheWidth(t *testing.T) {
	var b strings.Builder
	term := New(&b, true, 10)
	term.SetStatus("éééééééééééééé")
	if got, want := b.String(), "\r\033[Kééééééééé"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// Messages and status updates from many goroutines never interleave
// within a line.
func TestConcurrentWritesStayWhole(t *testing.T) {
	var b strings.Builder
	term := New(&b, false, 0)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				if i%2 == 0 {
					term.SetStatus(fmt.Sprintf("status %d %d", i, j))
				} else {
					fmt.Fprintf(term, "message %d %d\n", i, j)
				}
			}
		})
	}
	wg.Wait()
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		var kind string
		var i, j int
		if n, _ := fmt.Sscanf(l, "%s %d %d", &kind, &i, &j); n != 3 {
			t.Fatalf("torn line %q", l)
		}
	}
}
