//go:build linux || darwin || freebsd || netbsd || openbsd

package termstatus

import (
	"os"

	"golang.org/x/sys/unix"
)

// IsTerminal reports whether f is a terminal, and its width in columns (0
// when unknown). A character device is not enough: /dev/null is one.
func IsTerminal(f *os.File) (bool, int) {
	fd := int(f.Fd())
	if _, err := unix.IoctlGetTermios(fd, ioctlGetTermios); err != nil {
		return false, 0
	}
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil {
		return true, 0
	}
	return true, int(ws.Col)
}
