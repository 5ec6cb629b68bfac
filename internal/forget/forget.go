package forget

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/drill"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

// DefaultKeepUnfinished is how long a folder without manifest-summary.json
// is left alone after its last write: it may still be being written.
const DefaultKeepUnfinished = 24 * time.Hour

// Options are a forget run's settings.
type Options struct {
	Policy         Policy
	KeepUnfinished time.Duration
	DryRun         bool
	Now            time.Time
	// Open opens a folder by the URL the parent store gives it.
	Open func(url string) (store.Store, error)
	// Removing, if set, is called before each snapshot's files go.
	Removing func(url string)
}

// Entry is one snapshot folder in the report.
type Entry struct {
	Snapshot   string     `json:"snapshot"`
	ExportTime *time.Time `json:"exportTime,omitempty"`
	Source     string     `json:"source,omitempty"`
	Files      int        `json:"files"`
	// Reasons say why a kept folder is kept.
	Reasons []string `json:"reasons,omitempty"`
	// LastWritten is an unfinished folder's newest file time.
	LastWritten *time.Time `json:"lastWritten,omitempty"`
	// KeptFiles are files in the folder that are not the snapshot's
	// (someone else put them there): never removed.
	KeptFiles []string `json:"keptFiles,omitempty"`
	dir       string
	files     []string
}

// Report is what forget did, or with DryRun would do.
type Report struct {
	Folder string  `json:"folder"`
	Policy string  `json:"policy"`
	DryRun bool    `json:"dryRun"`
	Keep   []Entry `json:"keep"`
	Remove []Entry `json:"remove"`
	// UnfinishedKept are folders without a summary written to within
	// --keep-unfinished: never touched. UnfinishedRemoved are older ones.
	UnfinishedKept    []Entry `json:"unfinishedKept"`
	UnfinishedRemoved []Entry `json:"unfinishedRemoved"`
	FilesRemoved      int     `json:"filesRemoved"`
}

// objectID is a backup object's name (docs/DESIGN.md §2.1).
var objectID = regexp.MustCompile(`(^|/)[0-9a-f]{64}$`)

// Run applies the policy to the snapshots under parent. Finished snapshots
// are grouped by the backup they were taken from (the summary's source) and
// the policy applies to each group, as restic groups by host and paths.
// Nothing is removed if anything is in doubt: a summary that cannot be
// read, or a folder inside a backup prefix.
func Run(ctx context.Context, parent store.Store, opts Options) (*Report, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	rep := &Report{Folder: parent.URL(""), Policy: opts.Policy.String(), DryRun: opts.DryRun,
		Keep: []Entry{}, Remove: []Entry{}, UnfinishedKept: []Entry{}, UnfinishedRemoved: []Entry{}}
	if opts.Policy.Empty() {
		return rep, errors.New("no keep policy: give at least one of --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --keep-within")
	}
	sf, err := drill.ScanFolder(ctx, parent)
	if err != nil {
		return rep, err
	}
	for _, names := range append([][]string{sf.Other}, filesOf(sf)...) {
		for _, n := range names {
			if objectID.MatchString(n) {
				return rep, fmt.Errorf("%s holds %s, a backup object: it is (inside) a backup folder, where only the stream writer and backfill write; forget works on folders of snapshots only", parent.URL(""), parent.URL(n))
			}
		}
	}

	// Every summary, read before anything is decided.
	sums := make([]*snapshot.Summary, len(sf.Finished))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, dir := range sf.Finished {
		g.Go(func() error {
			st, err := opts.Open(parent.URL(dir))
			if err != nil {
				return err
			}
			s, err := snapshot.ReadSummary(gctx, st)
			if err != nil {
				return fmt.Errorf("%w; nothing removed", err)
			}
			sums[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}
	for _, s := range sums {
		if s.Dynasnap.Source == "" {
			continue
		}
		src, err := layout.ParseS3URL(s.Dynasnap.Source)
		if err != nil {
			continue
		}
		if err := snapshot.CheckOut(src, parent.URL("")); err != nil {
			return rep, fmt.Errorf("refusing %v", err)
		}
	}

	groups := map[string][]int{}
	for i, s := range sums {
		groups[s.Dynasnap.Source] = append(groups[s.Dynasnap.Source], i)
	}
	byName := map[string]int{}
	for i, dir := range sf.Finished {
		byName[dir] = i
	}
	for _, idx := range groups {
		var snaps []Snap
		for _, i := range idx {
			snaps = append(snaps, Snap{Name: sf.Finished[i], Time: sums[i].ExportTime})
		}
		for _, d := range Apply(snaps, opts.Policy, opts.Now) {
			i := byName[d.Name]
			t := sums[i].ExportTime.UTC()
			e := Entry{Snapshot: parent.URL(d.Name), ExportTime: &t, Source: sums[i].Dynasnap.Source,
				Files: len(sf.Files[d.Name]), Reasons: d.Reasons, dir: d.Name, files: sf.Files[d.Name]}
			if d.Keep {
				rep.Keep = append(rep.Keep, e)
			} else {
				e.Reasons = nil
				rep.Remove = append(rep.Remove, e)
			}
		}
	}
	newestFirst := func(es []Entry) {
		sort.SliceStable(es, func(i, j int) bool {
			if a, b := es[i].ExportTime, es[j].ExportTime; a != nil && b != nil && !a.Equal(*b) {
				return a.After(*b)
			}
			return es[i].Snapshot > es[j].Snapshot
		})
	}
	newestFirst(rep.Keep)
	newestFirst(rep.Remove)

	// A folder holding no file a snapshot run writes (a user's data/ or
	// sidecar/ folder, say) is not an unfinished snapshot: never touched.
	sf.Unfinished = slices.DeleteFunc(sf.Unfinished, func(dir string) bool {
		return len(ownFiles(dir, sf.Files[dir], nil)) == 0
	})
	// Unfinished folders: by the newest write in them.
	if len(sf.Unfinished) > 0 {
		timed, ok := parent.(store.Timed)
		if !ok {
			return rep, fmt.Errorf("%s cannot tell when files were written, so unfinished folders cannot be aged", parent.URL(""))
		}
		times, err := timed.ModTimes(ctx, "")
		if err != nil {
			return rep, err
		}
		for _, dir := range sf.Unfinished {
			var newest time.Time
			for _, f := range sf.Files[dir] {
				if t := times[f]; t.After(newest) {
					newest = t
				}
			}
			n := newest.UTC()
			e := Entry{Snapshot: parent.URL(dir), Files: len(sf.Files[dir]), LastWritten: &n, dir: dir, files: sf.Files[dir]}
			if age := opts.Now.Sub(newest); age < opts.KeepUnfinished {
				e.Reasons = []string{fmt.Sprintf("unfinished (no %s), last written %s ago, within --keep-unfinished %s: it may still be being written", snapshot.SummaryName, age.Round(time.Second), opts.KeepUnfinished)}
				rep.UnfinishedKept = append(rep.UnfinishedKept, e)
			} else {
				rep.UnfinishedRemoved = append(rep.UnfinishedRemoved, e)
			}
		}
	}
	// Only a snapshot's own files go: those dynasnap writes, and those its
	// manifest lists (an AWS export's data files have AWS's names). Any
	// other file in its folder stays, and is named in the report.
	for _, list := range []*[]Entry{&rep.Remove, &rep.UnfinishedRemoved} {
		for i := range *list {
			e := &(*list)[i]
			listed, err := listedFiles(ctx, opts, parent, e)
			if err != nil {
				return rep, fmt.Errorf("%w; nothing removed", err)
			}
			own := ownFiles(e.dir, e.files, listed)
			for _, f := range e.files {
				if !slices.Contains(own, f) {
					e.KeptFiles = append(e.KeptFiles, parent.URL(f))
				}
			}
			e.files, e.Files = own, len(own)
		}
	}
	if opts.DryRun {
		return rep, nil
	}
	for _, list := range [][]Entry{rep.Remove, rep.UnfinishedRemoved} {
		for _, e := range list {
			if opts.Removing != nil {
				opts.Removing(e.Snapshot)
			}
			n, err := removeSnapshot(ctx, parent, e.dir, e.files)
			rep.FilesRemoved += n
			if err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

// ownFiles are the files among files (relative to the parent) that are
// dir's snapshot's own: dynasnap's names (snapshot.OwnFile), or listed in
// its manifest (listed, relative to dir).
func ownFiles(dir string, files []string, listed map[string]bool) []string {
	var own []string
	for _, f := range files {
		rel := strings.TrimPrefix(strings.TrimPrefix(f, dir), "/")
		if snapshot.OwnFile(rel) || listed[rel] {
			own = append(own, f)
		}
	}
	return own
}

// listedFiles are the data and sidecar files a finished snapshot's
// manifest-files.json lists, relative to its folder (none for an
// unfinished one).
func listedFiles(ctx context.Context, opts Options, parent store.Store, e *Entry) (map[string]bool, error) {
	if e.ExportTime == nil {
		return nil, nil
	}
	st, err := opts.Open(parent.URL(e.dir))
	if err != nil {
		return nil, err
	}
	files, err := snapshot.ReadFiles(ctx, st)
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{}
	for _, f := range files {
		listed[f.Data] = true
		if f.Sidecar != "" {
			listed[f.Sidecar] = true
		}
	}
	return listed, nil
}

func filesOf(sf *drill.Folder) [][]string {
	var out [][]string
	for _, fs := range sf.Files {
		out = append(out, fs)
	}
	return out
}

// removeSnapshot deletes one snapshot folder's files: manifest-summary.json
// first, so that from the first deletion on the folder no longer reads as
// a finished snapshot, then manifest-files.json, then the rest.
func removeSnapshot(ctx context.Context, parent store.Store, dir string, files []string) (int, error) {
	summary := path.Join(dir, snapshot.SummaryName)
	manifest := path.Join(dir, snapshot.FilesName)
	var rest []string
	has := map[string]bool{}
	for _, f := range files {
		has[f] = true
		if f != summary && f != manifest {
			rest = append(rest, f)
		}
	}
	removed := 0
	for _, f := range []string{summary, manifest} {
		if !has[f] {
			continue
		}
		if err := parent.Remove(ctx, f); err != nil {
			return removed, err
		}
		removed++
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for _, f := range rest {
		g.Go(func() error {
			if err := parent.Remove(gctx, f); err != nil {
				return err
			}
			mu.Lock()
			removed++
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return removed, err
	}
	if l, ok := parent.(*store.Local); ok {
		removeEmptyDirs(l.Root, dir, files)
	}
	return removed, nil
}

// removeEmptyDirs drops the local folders the files were in, deepest first,
// where they are empty now.
func removeEmptyDirs(root, dir string, files []string) {
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f); d != "." && d != "/" && d != ""; d = path.Dir(d) {
			dirs[d] = true
			if d == dir {
				break
			}
		}
	}
	var list []string
	for d := range dirs {
		list = append(list, d)
	}
	sort.Slice(list, func(i, j int) bool { return len(list[i]) > len(list[j]) })
	for _, d := range list {
		os.Remove(filepath.Join(root, filepath.FromSlash(d))) // fails on a folder not empty: kept
	}
}
