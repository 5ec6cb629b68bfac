package snapshot

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// NewestVersion returns the latest LastModified of the versions the
// snapshot's items came from: how fresh the backup was at the snapshot's
// time. It reads only the sidecars, readers at a time, never the data files.
// ok is false when no item has a sidecar line (an AWS export, or an empty
// snapshot). A delete marker leaves no item, so a delete newer than every
// kept item is not counted: the lag this gives errs on the long side.
func (s *Snapshot) NewestVersion(ctx context.Context, readers int) (newest time.Time, ok bool, err error) {
	if readers <= 0 {
		readers = 4
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readers)
	for _, f := range s.Files {
		if f.Sidecar == "" || f.ItemCount == 0 {
			continue
		}
		g.Go(func() error {
			t, err := s.newestInFile(gctx, f)
			if err != nil {
				return err
			}
			mu.Lock()
			if t.After(newest) {
				newest = t
			}
			ok = true
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return time.Time{}, false, err
	}
	return newest, ok, nil
}

func (s *Snapshot) newestInFile(ctx context.Context, f FileEntry) (time.Time, error) {
	side, closeSide, err := s.openSidecar(ctx, f)
	if err != nil {
		return time.Time{}, err
	}
	defer closeSide()
	var newest time.Time
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
		raw, err := nextLine(side)
		if err == io.EOF {
			break
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("read %s line %d: %w", s.Store.URL(f.Sidecar), n+1, err)
		}
		n++
		var l SidecarLine
		if err := parseSidecarLine(raw, &l); err != nil {
			return time.Time{}, fmt.Errorf("read %s line %d: %w", s.Store.URL(f.Sidecar), n, err)
		}
		if l.LastModified.After(newest) {
			newest = l.LastModified
		}
	}
	// A short sidecar would hide versions: the count must match the data's.
	if n != f.ItemCount {
		return time.Time{}, fmt.Errorf("%s has %d lines, the manifest says %d items", s.Store.URL(f.Sidecar), n, f.ItemCount)
	}
	return newest, nil
}
