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
	names, err := parent.List(ctx, "")
	if err != nil {
		return &Found{}, fmt.Errorf("list snapshots under %s: %w", parent.URL(""), err)
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
	f := &Found{Finished: len(finished)}
	for dir := range seen {
		if !finished[dir] {
			f.Unfinished = append(f.Unfinished, parent.URL(dir))
		}
	}
	sort.Strings(f.Unfinished)
	if len(finished) == 0 {
		return f, fmt.Errorf("no finished snapshot (a folder with %s) under %s; %d unfinished", snapshot.SummaryName, parent.URL(""), len(f.Unfinished))
	}

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
	for dir := range finished {
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
