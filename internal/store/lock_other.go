//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import "os"

// Without flock a crashed run's claim cannot be told from a live one's:
// TakeOver never succeeds, and the user removes the folder.
func lock(f *os.File) error            { return nil }
func tryLock(f *os.File) (bool, error) { return false, nil }
func unlock(f *os.File)                {}
