package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// SpoolMemory is how much of a data file EachChecked holds in memory
// before it spills the rest to a temporary file.
const SpoolMemory = 16 << 20

// EachChecked calls fn for every item of one data file, in file order, but
// only once the whole file has been read and found to be what its
// manifest line says: its MD5, its item count, every item readable and
// every sidecar line, and check (if set) passed for every line. Nothing of
// a tampered, truncated or mislabelled file reaches fn: a restore writes
// no item it has not checked (docs/DESIGN.md §7).
//
// The cost: the file is fetched once and kept while it is checked (in
// memory up to SpoolMemory, beyond that in a temporary file: disk for the
// compressed file and its sidecar), then decompressed and parsed a second
// time from there.
func (s *Snapshot) EachChecked(ctx context.Context, f FileEntry, check func(Line) error, fn func(Line) error) error {
	data, err := s.spoolFile(ctx, f.Data)
	if err != nil {
		return err
	}
	defer data.Close()
	var side *spool
	if f.Sidecar != "" {
		if side, err = s.spoolFile(ctx, f.Sidecar); err != nil {
			return err
		}
		defer side.Close()
	}
	first := func(l Line) error {
		if check != nil {
			return check(l)
		}
		return nil
	}
	if err := s.eachFrom(ctx, f, data.reader(), side.reader(), first); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return &DamagedError{File: s.Store.URL(f.Data), Err: err}
	}
	return s.eachFrom(ctx, f, data.reader(), side.reader(), fn)
}

// ErrDamaged is wrapped by the error of a data file that does not match
// its manifest line: a rerun stops at it again.
var ErrDamaged = errors.New("damaged data file")

// DamagedError is a data file EachChecked refused before using any of it.
type DamagedError struct {
	File string
	Err  error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%v; nothing of %s was used", e.Err, e.File)
}

func (e *DamagedError) Unwrap() []error { return []error{ErrDamaged, e.Err} }

// spoolFile reads a whole file of the snapshot into a spool.
func (s *Snapshot) spoolFile(ctx context.Context, name string) (*spool, error) {
	r, err := s.Store.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	sp := &spool{}
	if _, err := io.Copy(sp, r); err != nil {
		sp.Close()
		return nil, fmt.Errorf("read %s: %w", s.Store.URL(name), err)
	}
	return sp, nil
}

// spool holds bytes in memory up to SpoolMemory, then in a temporary file.
type spool struct {
	mem  bytes.Buffer
	file *os.File
	size int64
}

func (sp *spool) Write(p []byte) (int, error) {
	if sp.file == nil && sp.mem.Len()+len(p) > SpoolMemory {
		f, err := os.CreateTemp("", "dynasnap-check-*")
		if err != nil {
			return 0, fmt.Errorf("temporary file to check a data file in: %w", err)
		}
		// Unlinked at once: the open file is all that needs it, and a
		// killed run leaves nothing behind.
		os.Remove(f.Name())
		if _, err := f.Write(sp.mem.Bytes()); err != nil {
			f.Close()
			return 0, err
		}
		sp.file = f
		sp.mem = bytes.Buffer{}
	}
	sp.size += int64(len(p))
	if sp.file != nil {
		return sp.file.Write(p)
	}
	return sp.mem.Write(p)
}

// reader reads the spool from its start; nil for a nil spool.
func (sp *spool) reader() io.Reader {
	if sp == nil {
		return nil
	}
	if sp.file != nil {
		return io.NewSectionReader(sp.file, 0, sp.size)
	}
	return bytes.NewReader(sp.mem.Bytes())
}

func (sp *spool) Close() error {
	if sp != nil && sp.file != nil {
		return sp.file.Close()
	}
	return nil
}
