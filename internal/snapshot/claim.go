package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/store"
)

// A run claims its output folder before it writes anything into it
// (docs/DESIGN.md §5.9): it creates its claim file atomically (O_EXCL
// locally, If-None-Match: * on S3), so of two runs into one folder the
// second fails at once; and it refuses a folder holding anything but its
// own unfinished output, so it never deletes or overwrites a file it did
// not write. An unsharded run's claim is _started (AWS's marker of a
// started export; AWS's is empty, dynasnap's holds a ClaimRecord); each
// shard of a sharded run claims _started-shard-IIIII-of-NNNNN, as the
// shards share the folder.

// ClaimRecord is what a claim file holds: who claimed the folder, for
// what, so a rerun can tell its own crashed output from another run's and
// a refusal can name the holder.
type ClaimRecord struct {
	Tool string `json:"tool"`
	// ExportID identifies what is being written (the snapshot's source,
	// time and filter): a rerun of the same snapshot has the same.
	ExportID string    `json:"exportId"`
	Source   string    `json:"source"`
	Shard    int       `json:"shard,omitempty"`
	Shards   int       `json:"shards,omitempty"`
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
}

func (r ClaimRecord) describe() string {
	what := "a run"
	if r.Tool != "" {
		what = r.Tool
	}
	s := fmt.Sprintf("%s writing export %s of %s", what, r.ExportID, r.Source)
	if r.Shards > 0 {
		s += fmt.Sprintf(" (shard %d/%d)", r.Shard, r.Shards)
	}
	if !r.Started.IsZero() {
		s += fmt.Sprintf(", started %s by process %d on %s", r.Started.UTC().Format(time.RFC3339), r.PID, r.Host)
	}
	return s
}

// OutputSpec says what a run writes into its folder, for its claim.
type OutputSpec struct {
	// Kind names what is written, for messages: "snapshot", "export".
	Kind   string
	Record ClaimRecord
	// Claim is the claim file's name (StartedName for an unsharded run).
	Claim string
	// Mine matches the files this run writes: they are removed when it
	// takes over its own crashed output, and when it stops unfinished.
	Mine func(name string) bool
	// Shared matches files other runs writing the same export (the
	// other shards) may have put there: left alone, but not refused.
	Shared func(name string) bool
}

// Claimed is an output folder held by this run. Release it when the run
// finished; Abandon it when the run stops unfinished.
type Claimed struct {
	out  store.Store
	spec OutputSpec
	held *store.Held
}

// ErrOutputTaken is wrapped by every refusal of an output folder.
var ErrOutputTaken = errors.New("output folder not usable")

type outputError struct{ msg string }

func (e *outputError) Error() string { return e.msg }
func (e *outputError) Unwrap() error { return ErrOutputTaken }

// removeHint says how to empty a folder, local or on S3.
func removeHint(out store.Store) string {
	u := out.URL("")
	if layout.IsS3URL(u) {
		return "aws s3 rm --recursive " + u
	}
	return "rm -r " + strings.TrimSuffix(u, "/")
}

// ClaimOutput claims out for the run spec describes. listed, if not nil,
// is a listing of out made beforehand (up to a few names: store.Some), so
// the listing can run beside other checks; it must hold every name when
// it holds fewer than asked for.
func ClaimOutput(ctx context.Context, out store.Store, spec OutputSpec, listed []string) (*Claimed, error) {
	if listed == nil {
		var err error
		if listed, err = store.Some(ctx, out, someNames); err != nil {
			return nil, err
		}
	}
	if err := checkNames(out, spec, listed, false); err != nil {
		return nil, err
	}
	rec, err := json.Marshal(spec.Record)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		held, err := store.Claim(ctx, out, spec.Claim, rec)
		if err == nil {
			c := &Claimed{out: out, spec: spec, held: held}
			// Files of this run's kind with no claim over them: a run of an
			// older version, or a claim removed by hand. Not provably
			// this run's, so not removed.
			all := listed
			if len(listed) >= someNames || spec.Shared != nil {
				if all, err = out.List(ctx, ""); err != nil {
					c.drop(ctx)
					return nil, err
				}
			}
			if err := checkNames(out, spec, all, true); err != nil {
				c.drop(ctx)
				return nil, err
			}
			return c, nil
		}
		if !errors.Is(err, store.ErrClaimed) {
			return nil, err
		}
		if done, err := out.Exists(ctx, SummaryName); err != nil {
			return nil, err
		} else if done {
			return nil, finishedError(out, spec.Kind)
		}
		held, err = store.TakeOver(ctx, out, spec.Claim)
		if errors.Is(err, store.ErrNotExist) && attempt == 0 {
			continue // its holder just let it go
		}
		if err != nil {
			return nil, busyError(ctx, out, spec)
		}
		var prev ClaimRecord
		if json.Unmarshal(held.Prev, &prev) != nil || !successor(prev, spec.Record) {
			held.Release()
			what := "run"
			if prev.ExportID != "" {
				what = prev.describe()
			}
			return nil, &outputError{fmt.Sprintf("%s holds the unfinished output of another %s, which stopped without finishing: choose another folder, or remove that one (%s) and rerun",
				out.URL(""), what, removeHint(out))}
		}
		// Left by a run of the same export (or, unsharded, of the same
		// source) that died: its files are dynasnap's own, ours to clear.
		c := &Claimed{out: out, spec: spec, held: held}
		if err := held.Rewrite(ctx, rec); err != nil {
			held.Release()
			return nil, err
		}
		all, err := out.List(ctx, "")
		if err != nil {
			held.Release()
			return nil, err
		}
		if err := checkNames(out, spec, all, false); err != nil {
			held.Release()
			return nil, err
		}
		if err := c.removeMine(ctx, all); err != nil {
			held.Release()
			return nil, err
		}
		return c, nil
	}
}

// successor says whether a run claiming next may take over the folder of
// a dead run that claimed prev: a rerun of the same export, or (unsharded)
// any snapshot of the same source, such as the same command rerun without
// --at. A shard only takes over its own shard of the same run.
func successor(prev, next ClaimRecord) bool {
	if prev.Shards != next.Shards || prev.Shard != next.Shard || prev.Source != next.Source {
		return false
	}
	return prev.ExportID == next.ExportID || next.Shards == 0
}

// someNames is how many names a first look at a folder lists.
const someNames = 20

// checkNames refuses a folder holding a finished snapshot or files this
// run does not write; strict also refuses files of this run's own kind
// (they are not under this run's claim).
func checkNames(out store.Store, spec OutputSpec, names []string, strict bool) error {
	var foreign, stale []string
	for _, n := range names {
		switch {
		case n == SummaryName:
			return finishedError(out, spec.Kind)
		case n == spec.Claim:
		case spec.Mine(n):
			stale = append(stale, n)
		case spec.Shared != nil && spec.Shared(n):
		default:
			foreign = append(foreign, n)
		}
	}
	if len(foreign) > 0 {
		return &outputError{fmt.Sprintf("%s holds files dynasnap did not write there (%s): it writes only into an empty folder or its own unfinished one, so as never to delete or overwrite yours; choose a new folder, or move those files away",
			out.URL(""), nameList(foreign))}
	}
	if strict && len(stale) > 0 {
		return &outputError{fmt.Sprintf("%s holds the files of an unfinished run that no longer claims it (%s): choose a new folder, or remove that one (%s) and rerun",
			out.URL(""), nameList(stale), removeHint(out))}
	}
	return nil
}

func nameList(names []string) string {
	if len(names) > 3 {
		return fmt.Sprintf("%s and more", strings.Join(names[:3], ", "))
	}
	return strings.Join(names, ", ")
}

func finishedError(out store.Store, kind string) error {
	article := "a"
	if strings.HasPrefix(kind, "e") {
		article = "an"
	}
	return &outputError{fmt.Sprintf("%s already holds %s %s (it has %s); choose a new folder", out.URL(""), article, kind, SummaryName)}
}

// busyError names who holds the claim, as far as its file says.
func busyError(ctx context.Context, out store.Store, spec OutputSpec) error {
	holder := "another run"
	if r, err := out.Open(ctx, spec.Claim); err == nil {
		var prev ClaimRecord
		if json.NewDecoder(r).Decode(&prev) == nil && prev.ExportID != "" {
			holder = prev.describe()
		}
		r.Close()
	}
	return &outputError{fmt.Sprintf("%s is being written by %s, or was left unfinished by it: choose another folder; if no run is writing it any more, remove it (%s) and rerun",
		out.URL(""), holder, removeHint(out))}
}

// removeMine removes this run's files among names (not its claim).
func (c *Claimed) removeMine(ctx context.Context, names []string) error {
	for _, n := range names {
		if n != c.spec.Claim && c.spec.Mine(n) {
			if err := c.out.Remove(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// Release ends the claim of a run that finished: the claim file stays,
// and _started is emptied again, so a finished export's is AWS's.
func (c *Claimed) Release(ctx context.Context) error {
	if c == nil {
		return nil
	}
	defer c.held.Release()
	if c.spec.Claim == StartedName {
		return c.held.Rewrite(ctx, nil)
	}
	return nil
}

// Abandon is for a run that stops unfinished (an error, Ctrl-C): it
// removes the files it wrote and then its claim, so the folder is as it
// found it and a rerun starts clean. It runs detached from ctx's
// cancellation: it is what a cancelled run does last.
func (c *Claimed) Abandon(ctx context.Context) error {
	if c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	names, err := c.out.List(ctx, "")
	if err == nil {
		err = c.removeMine(ctx, names)
	}
	if err != nil {
		// Keep the claim: the folder holds files of this run, and a
		// rerun of it takes them over.
		c.held.Release()
		return err
	}
	return c.drop(ctx)
}

func (c *Claimed) drop(ctx context.Context) error {
	return c.held.Drop(context.WithoutCancel(ctx))
}

// NewClaimRecord fills the holder's fields of a claim record.
func NewClaimRecord(tool, exportID, source string) ClaimRecord {
	host, _ := os.Hostname()
	return ClaimRecord{Tool: tool, ExportID: exportID, Source: source, Host: host, PID: os.Getpid(), Started: time.Now().UTC()}
}

var (
	partName    = regexp.MustCompile(`^(data|sidecar)/part-\d{5}\.(json|json\.gz|json\.zst|parquet)$`)
	singleName  = regexp.MustCompile(`^(data|sidecar)/snapshot\.(json|json\.gz|json\.zst|parquet)$`)
	shardPart   = regexp.MustCompile(`^(data|sidecar)/part-(\d{5})-\d{5}\.(json|json\.gz|json\.zst|parquet)$`)
	shardFile   = regexp.MustCompile(`^shards/shard-(\d{5})-of-(\d{5})\.json$`)
	shardClaim  = regexp.MustCompile(`^_started-shard-(\d{5})-of-(\d{5})$`)
	exportFiles = map[string]bool{FilesName: true, FilesMD5Name: true, SummaryMD5Name: true}
)

// SnapshotSpec is the claim of a snapshot run (Options: Shard, Shards).
func SnapshotSpec(rec ClaimRecord, shard, shards int) OutputSpec {
	if shards == 0 {
		return OutputSpec{Kind: "snapshot", Record: rec, Claim: StartedName, Mine: func(n string) bool {
			return partName.MatchString(n) || singleName.MatchString(n) || exportFiles[n] || n == DefinitionName || n == SchemaName
		}}
	}
	rec.Shard, rec.Shards = shard, shards
	idx, of := fmt.Sprintf("%05d", shard), fmt.Sprintf("%05d", shards)
	return OutputSpec{Kind: "snapshot", Record: rec, Claim: fmt.Sprintf("_started-shard-%s-of-%s", idx, of),
		Mine: func(n string) bool {
			if m := shardPart.FindStringSubmatch(n); m != nil {
				return m[2] == idx
			}
			m := shardFile.FindStringSubmatch(n)
			return m != nil && m[1] == idx && m[2] == of
		},
		Shared: func(n string) bool {
			if m := shardFile.FindStringSubmatch(n); m != nil {
				return m[2] == of
			}
			if m := shardClaim.FindStringSubmatch(n); m != nil {
				return m[2] == of
			}
			// A commit stopped between the manifests leaves them.
			return shardPart.MatchString(n) || n == StartedName || n == DefinitionName || n == SchemaName || exportFiles[n]
		}}
}

// ExportSpec is the claim of an incremental export (diff --out): gzip
// data files and the manifests.
func ExportSpec(rec ClaimRecord) OutputSpec {
	return OutputSpec{Kind: "export", Record: rec, Claim: StartedName, Mine: func(n string) bool {
		return partName.MatchString(n) || exportFiles[n]
	}}
}

// OwnFile says whether name (relative to an export's folder) is one of the
// files dynasnap writes into an export: the manifests and their checksums,
// _started and the shards' claims, data and sidecar parts by dynasnap's
// names, shard manifests, the definition and the Parquet schema. What
// removes snapshots (forget) removes only these and the files a manifest
// lists, never a file someone else put in the folder.
func OwnFile(name string) bool {
	switch name {
	case SummaryName, FilesName, FilesMD5Name, SummaryMD5Name, StartedName, DefinitionName, SchemaName:
		return true
	}
	return partName.MatchString(name) || singleName.MatchString(name) || shardPart.MatchString(name) ||
		shardFile.MatchString(name) || shardClaim.MatchString(name)
}
