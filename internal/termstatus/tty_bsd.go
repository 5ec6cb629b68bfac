//go:build darwin || freebsd || netbsd || openbsd

package termstatus

import "golang.org/x/sys/unix"

const ioctlGetTermios = unix.TIOCGETA
