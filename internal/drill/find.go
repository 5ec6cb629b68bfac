package drill

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

// Found is the newest finished snapshot in a folder of snapshots.
type Found struct {
	Snapshot *snapshot.Snapshot
	// Finished counts the finished snapshots seen.
	Finished int
	// Unfinished are folders that hold snapshot files but no
	// manifest-summary.json (a run still going, or one that crashed):
	// never drilled.
	Unfinished []string
}

// FindNewest looks through every folder under parent, at any depth, for
// snapshots, and opens the finished one with the latest snapshot time
// (exportTime in its summary). open opens a folder by the URL parent gives
// it (a local path or s3://). An unreadable summary is an error: the drill
// exists to find exactly that.
func FindNewest(ctx context.Context, parent store.Store, open func(url string) (store.Store, error)) (*Found, error) {
	sf, err := ScanFolder(ctx, parent)
	if err != nil {
		return &Found{}, err
	}
	f := &Found{Finished: len(sf.Finished)}
	for _, dir := range sf.Unfinished {
		f.Unfinished = append(f.Unfinished, parent.URL(dir))
	}
	if len(sf.Finished) == 0 {
		return f, fmt.Errorf("no finished snapshot (a folder with %s) under %s; %d unfinished", snapshot.SummaryName, parent.URL(""), len(f.Unfinished))
	}
	finished := sf.Finished

	type cand struct {
		dir string
		st  store.Store
		sum *snapshot.Summary
	}
	var (
		mu    sync.Mutex
		cands []cand
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, dir := range finished {
		g.Go(func() error {
			st, err := open(parent.URL(dir))
			if err != nil {
				return err
			}
			sum, err := snapshot.ReadSummary(gctx, st)
			if err != nil {
				return err
			}
			mu.Lock()
			cands = append(cands, cand{dir, st, sum})
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return f, err
	}
	// Newest snapshot time first; for equal times the one finished last,
	// then the name, so the choice does not depend on listing order.
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i].sum, cands[j].sum
		if !a.ExportTime.Equal(b.ExportTime) {
			return a.ExportTime.After(b.ExportTime)
		}
		if !a.EndTime.Equal(b.EndTime) {
			return a.EndTime.After(b.EndTime)
		}
		return cands[i].dir > cands[j].dir
	})
	if f.Snapshot, err = snapshot.Open(ctx, cands[0].st); err != nil {
		return f, err
	}
	return f, nil
}

// Folder is what a folder of snapshots holds, from one listing.
type Folder struct {
	// Finished and Unfinished are the snapshot folders with and without
	// manifest-summary.json, as names relative to the parent, sorted.
	Finished, Unfinished []string
	// Files are each snapshot folder's files (relative to the parent): a
	// file belongs to the deepest snapshot folder it lies in.
	Files map[string][]string
	// Other are files in no snapshot folder.
	Other []string
}

// ScanFolder lists every snapshot folder under parent, at any depth, and
// the files of each.
func ScanFolder(ctx context.Context, parent store.Store) (*Folder, error) {
	names, err := parent.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list snapshots under %s: %w", parent.URL(""), err)
	}
	finished, seen := map[string]bool{}, map[string]bool{}
	for _, n := range names {
		dir, ok := snapshotDir(n)
		if !ok {
			continue
		}
		seen[dir] = true
		if path.Base(n) == snapshot.SummaryName {
			finished[dir] = true
		}
	}
	f := &Folder{Files: map[string][]string{}}
	for dir := range seen {
		if finished[dir] {
			f.Finished = append(f.Finished, dir)
		} else {
			f.Unfinished = append(f.Unfinished, dir)
		}
	}
	sort.Strings(f.Finished)
	sort.Strings(f.Unfinished)
	for _, n := range names {
		owner, found := "", false
		for d := path.Dir(n); ; d = path.Dir(d) {
			if d == "." || d == "/" {
				d = ""
			}
			if seen[d] {
				owner, found = d, true
				break
			}
			if d == "" {
				break
			}
		}
		if found {
			f.Files[owner] = append(f.Files[owner], n)
		} else {
			f.Other = append(f.Other, n)
		}
	}
	return f, nil
}

// snapshotDir is the snapshot folder a listed file belongs to, if it is a
// snapshot's file: a manifest, or a file under data/, sidecar/ or shards/.
// The last such element counts, so snapshots may sit in folders of any
// name, "data" included.
func snapshotDir(name string) (string, bool) {
	parts := strings.Split(name, "/")
	switch parts[len(parts)-1] {
	case snapshot.SummaryName, snapshot.FilesName:
		return path.Join(parts[:len(parts)-1]...), true
	}
	for i := len(parts) - 2; i >= 0; i-- {
		switch parts[i] {
		case snapshot.DataDir, snapshot.SidecarDir, snapshot.ShardsDir:
			return path.Join(parts[:i]...), true
		}
	}
	return "", false
}
