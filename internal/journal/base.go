package journal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// A backfill writes a base from a Scan, which reads items in no useful
// order: each page becomes a sorted run under DIR journal/building/<at>/,
// and FinishBase merges the runs (an external merge sort, at most FanIn
// runs at once) into the base's parts, manifest last (docs/DESIGN.md
// §10.8).

// FanIn is the most runs one merge reads at once: it bounds the memory of
// FinishBase and of a read, whatever the number of runs or segments.
const FanIn = 128

func buildFolder(dir string, at time.Time) string {
	return dir + Folder + "building/" + formatNameTime(at) + "/"
}

// CreateDescriptor writes dir's journal.json only when there is none (a
// backfill that starts a journal before its writer runs).
func CreateDescriptor(ctx context.Context, b Bucket, dir string, lag time.Duration, tool string) error {
	_, err := ReadDescriptor(ctx, b, dir)
	if !errors.Is(err, ErrNoJournal) {
		return err
	}
	return EnsureDescriptor(ctx, b, dir, lag, tool)
}

// WriteBaseRun stores one Scan page of a backfill base as a sorted run. Its
// name is its content's hash: a page read again after a crash is stored
// once, and one read again with other images (items changed between the
// two reads) is merged by time, the later read winning.
func WriteBaseRun(ctx context.Context, b Bucket, dir string, at time.Time, recs []Record) error {
	recs = slices.Clone(recs)
	sortRecords(recs)
	body, raw := encodeRun(recs)
	sum := sha256.Sum256(raw)
	err := b.Put(ctx, buildFolder(dir, at)+"run-"+hex.EncodeToString(sum[:12])+partExt, body, true)
	if errors.Is(err, ErrExists) {
		return nil
	}
	return err
}

// FinishBase merges a backfill's runs into the base at at, whose states
// are exact from exactFrom (when the Scan ended), and removes the runs.
// It may be run again after a crash: what it finds, it finishes.
func FinishBase(ctx context.Context, b Bucket, dir string, at, exactFrom time.Time, tool string, partBytes int64) (int64, error) {
	folder := buildFolder(dir, at)
	list := func() ([]string, error) {
		var keys []string
		err := b.List(ctx, folder, "", func(o Object) bool { keys = append(keys, o.Key); return true })
		return keys, err
	}
	keys, err := list()
	if err != nil {
		return 0, err
	}
	runs := groupRuns(keys)
	r := &Reader{Bucket: b}
	// Passes until FanIn runs remain; each pass's outputs are stored before
	// its inputs go, so a crash leaves every record in some run (a record
	// in two runs is one read twice: the merge keeps one).
	for pass := 1; len(runs) > FanIn; pass++ {
		var next [][]string
		for i := 0; i < len(runs); i += FanIn {
			group := runs[i:min(i+FanIn, len(runs))]
			prefix := fmt.Sprintf("%spass%03d-%06d-", folder, pass, i/FanIn)
			w := newPartWriter(b, "", "", 0, partBytes)
			w.name = func(n int) string { return fmt.Sprintf("%s%05d%s", prefix, n, partExt) }
			err := r.mergeKeys(ctx, group, func(g []Record) error {
				for j := range g {
					if err := w.add(ctx, &g[j]); err != nil {
						return err
					}
				}
				return nil
			})
			if err == nil {
				err = w.flush(ctx)
			}
			if err != nil {
				return 0, err
			}
			var run []string
			for _, p := range w.parts {
				run = append(run, p.Name)
			}
			next = append(next, run)
			for _, keys := range group {
				for _, k := range keys {
					if err := b.Delete(ctx, k); err != nil {
						return 0, err
					}
				}
			}
		}
		runs = next
	}
	w := newPartWriter(b, baseFolderAt(dir, at), newRunID(), 0, partBytes)
	err = r.mergeKeys(ctx, runs, func(g []Record) error {
		// The latest read of the item is its state.
		return w.add(ctx, &g[len(g)-1])
	})
	if err != nil {
		return 0, err
	}
	ef := exactFrom.UTC()
	if _, err := w.finish(ctx, 1, Manifest{Kind: kindBase, To: at, ExactFrom: &ef, Tool: tool}); err != nil {
		return 0, err
	}
	for _, keys := range runs {
		for _, k := range keys {
			if err := b.Delete(ctx, k); err != nil {
				return w.total, err
			}
		}
	}
	return w.total, nil
}

// groupRuns groups a build folder's objects into runs: a page's run is one
// object, a pass's output the objects of one prefix, read in order.
func groupRuns(keys []string) [][]string {
	var runs [][]string
	last := ""
	for _, k := range keys {
		p := k
		if i := strings.LastIndexByte(k, '-'); i > 0 && strings.Contains(k[strings.LastIndexByte(k, '/')+1:], "pass") {
			p = k[:i]
		}
		if len(runs) > 0 && p == last {
			runs[len(runs)-1] = append(runs[len(runs)-1], k)
			continue
		}
		runs = append(runs, []string{k})
		last = p
	}
	return runs
}

// mergeKeys merges whole sorted runs by id, each id's records in order.
func (r *Reader) mergeKeys(ctx context.Context, runs [][]string, fn func([]Record) error) error {
	g, gctx := errgroup.WithContext(ctx)
	var rs ReadStats
	cursors := make([]*cursor, len(runs))
	for i, keys := range runs {
		c := newCursor()
		cursors[i] = c
		c.fill(g, func() error {
			for _, k := range keys {
				if err := r.readRun(gctx, c, k, 0, "", "", func(*Record) bool { return true }, &rs); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		return mergeCursors(gctx, cursors, time.Time{}, func(g []Record, _ time.Time) error { return fn(g) })
	})
	return g.Wait()
}
