//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair (posix_openpt, unlockpt, ptsname):
// the command writes to the terminal side, the test reads what a terminal
// would show from the other.
func openPTY(t *testing.T, cols uint16) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: cols}); err != nil {
		t.Fatal(err)
	}
	return ptm, pts
}

// chunk is what the terminal showed, and when.
type chunk struct {
	at   time.Time
	data []byte
}

// TestSnapshotProgressOnATerminal runs snapshot with stderr on a
// pseudo-terminal, through a proxy that makes each GET take 40 ms (so the
// run lasts a few seconds) and answers the lifecycle read, 1.5 s in, with
// AccessDenied (so a warning is printed while the progress line is up).
// The progress line must be rewritten in place at least once a second,
// and the warning must come on a line of its own with the progress line
// drawn again below it.
func TestSnapshotProgressOnATerminal(t *testing.T) {
	src := seed(t, 400)
	target, err := url.Parse(os.Getenv("AWS_ENDPOINT_URL_S3"))
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodGet && q.Has("lifecycle"):
			time.Sleep(1500 * time.Millisecond)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		case r.Method == http.MethodGet && q.Has("versionId"):
			time.Sleep(40 * time.Millisecond)
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	ptm, pts := openPTY(t, 250)
	defer ptm.Close()
	var stdout bytes.Buffer
	cmd := exec.Command(binary(t), "snapshot", "--source", src.String(), "--out", t.TempDir()+"/snap", "--concurrency", "4")
	cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL_S3="+proxy.URL, "AWS_ENDPOINT_URL="+proxy.URL)
	cmd.Stdout, cmd.Stderr = &stdout, pts
	var chunks []chunk
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			if n > 0 {
				mu.Lock()
				chunks = append(chunks, chunk{time.Now(), bytes.Clone(buf[:n])})
				mu.Unlock()
			}
			if err != nil { // EIO once the command has closed the terminal
				return
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close() // the command holds its own copy; the reader ends when it exits
	runErr := cmd.Wait()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the terminal was not closed after the command exited")
	}
	var all []byte
	var ends []int // ends[i]: offset in all where chunk i ends
	for _, c := range chunks {
		all = append(all, c.data...)
		ends = append(ends, len(all))
	}
	arrived := func(off int) time.Time {
		for i, e := range ends {
			if off < e {
				return chunks[i].at
			}
		}
		return chunks[len(chunks)-1].at
	}
	// The terminal's output processing turns "\n" into "\r\n".
	out := strings.ReplaceAll(string(all), "\r\n", "\n")
	if runErr != nil {
		t.Fatalf("snapshot: %v\n%q", runErr, out)
	}

	// In place: every status is drawn after a carriage return and "erase
	// line", and none is ever ended by a newline.
	status := regexp.MustCompile(`\r\x1b\[K(\d+s: versions listed [^\r\n\x1b]*)`)
	draws := status.FindAllStringSubmatchIndex(string(all), -1)
	if len(draws) < 3 {
		t.Fatalf("%d progress lines drawn in place, want several: %q", len(draws), out)
	}
	if m := regexp.MustCompile(`versions listed [^\r\n\x1b]*\n`).FindString(out); m != "" {
		t.Errorf("a progress line was ended by a newline (not updated in place): %q", m)
	}
	// At least once a second from the first line to the last; no gap much
	// over a second either, with slack for a machine shared with other
	// tests (the line is drawn twice a second).
	span := arrived(draws[len(draws)-1][0]).Sub(arrived(draws[0][0]))
	if len(draws)-1 < int(span/time.Second) {
		t.Errorf("%d progress lines in %v: fewer than one a second", len(draws), span.Round(time.Millisecond))
	}
	for i := 1; i < len(draws); i++ {
		if gap := arrived(draws[i][0]).Sub(arrived(draws[i-1][0])); gap > 1500*time.Millisecond {
			t.Errorf("progress line %d came %v after the one before", i, gap.Round(time.Millisecond))
		}
	}
	t.Logf("%d progress lines in %v", len(draws), span.Round(time.Millisecond))

	// The warning: printed on the status's line once it is erased, ended
	// by a newline, the status drawn again after it; and while the run
	// was going (a status before it).
	warn := regexp.MustCompile(`\r\x1b\[K(warning: could not read the lifecycle rules of bucket [^\r\n]*)\n(\d+s: versions listed [^\r\n\x1b]*)`)
	w := warn.FindStringSubmatchIndex(out)
	if w == nil {
		t.Fatalf("no warning on a line of its own with the progress line redrawn below it: %q", out)
	}
	if !status.MatchString(out[:w[0]]) {
		t.Errorf("the warning came before any progress line, not during the run: %q", out)
	}
	// What a reader of the terminal sees: the warning line whole, and no
	// line holding a piece of both.
	screen := render(out)
	warning := out[w[2]:w[3]]
	seen := false
	for _, l := range screen {
		if l == warning {
			seen = true
		}
		if strings.Contains(l, "warning:") && strings.Contains(l, "versions listed") {
			t.Errorf("torn line on the screen: %q", l)
		}
	}
	if !seen {
		t.Errorf("the warning is not a line of its own on the screen:\n%s", strings.Join(screen, "\n"))
	}
	// At the end the progress line is gone and the summary is on screen.
	if last := screen[len(screen)-1]; last != "" {
		t.Errorf("the last line on the screen is %q, want the progress line erased", last)
	}
	if !slices.ContainsFunc(screen, func(l string) bool { return strings.HasPrefix(l, "snapshot of ") }) {
		t.Errorf("no summary on the screen:\n%s", strings.Join(screen, "\n"))
	}
}

// render plays out on a virtual terminal (no wrapping) what the command
// wrote: carriage return, "erase to end of line" and newline; it returns
// the lines left on the screen.
func render(s string) []string {
	var lines []string
	var cur []rune
	col := 0
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch {
		case rs[i] == '\r':
			col = 0
		case rs[i] == '\n':
			lines = append(lines, string(cur))
			cur, col = nil, 0
		case rs[i] == '\x1b' && i+2 < len(rs) && rs[i+1] == '[' && rs[i+2] == 'K':
			cur = cur[:col]
			i += 2
		default:
			if col < len(cur) {
				cur[col] = rs[i]
			} else {
				cur = append(cur, rs[i])
			}
			col++
		}
	}
	return append(lines, string(cur))
}
