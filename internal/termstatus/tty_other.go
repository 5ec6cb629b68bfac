//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package termstatus

import "os"

// IsTerminal reports false where the terminal cannot be asked: status
// lines then come one per line, as in a log.
func IsTerminal(f *os.File) (bool, int) { return false, 0 }
