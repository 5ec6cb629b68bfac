package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

// TakeOptions configure TakeSnapshot: a drill of the backup as it is now.
type TakeOptions struct {
	// Source is the table's backup folder, s3://BUCKET/PREFIX/TABLE.
	Source layout.Location
	// Out is the new snapshot's folder (a local path or s3://). Empty: a
	// folder FolderName(time) under Folder, or without Folder a temporary
	// folder, removed by the caller once the drill is over (Taken.Temp).
	Out, Folder string
	// Open opens the destination folder for writing.
	Open func(url string) (store.Store, error)
	// Tool is recorded in the snapshot's summary.
	Tool string
	// Now is the clock the snapshot time is read from; default time.Now.
	Now func() time.Time
	// Log is told when the snapshot starts; nil: silent.
	Log Logger
	// Progress counters, optional.
	Listed, Fetched *progress.Counter
}

// Taken is the snapshot TakeSnapshot took.
type Taken struct {
	Snapshot *snapshot.Snapshot
	// Took is how long taking it took (the report's snapshotTaken).
	Took Span
	// Temp, if set, is the temporary folder the snapshot is in; the caller
	// removes it when the drill is over.
	Temp string
}

// DestinationError is a destination refused before anything is read or
// written: the option named by Flag ("--out", "--snapshots") is wrong.
type DestinationError struct {
	Flag string
	Err  error
}

func (e *DestinationError) Error() string { return e.Flag + ": " + e.Err.Error() }
func (e *DestinationError) Unwrap() error { return e.Err }

// FolderName is the name of the folder a drill's snapshot taken at at
// gets under a folder of snapshots: drill-<yyyymmddThhmmssZ>.
func FolderName(at time.Time) string {
	return "drill-" + at.UTC().Format("20060102T150405Z")
}

// Destination is where a snapshot of src taken at at goes: out if given;
// else the folder FolderName(at) under folder; else temp, a new temporary
// folder (the snapshot goes in its subfolder "snapshot"), which the caller
// removes. A destination in or over the backup folder is refused, as
// 'dynasnap snapshot' refuses it (snapshot.CheckOut).
func Destination(src layout.Location, out, folder string, at time.Time) (dest, temp string, err error) {
	switch {
	case out != "":
		dest = out
	case layout.IsS3URL(folder):
		loc, err := layout.ParseS3URL(folder)
		if err != nil {
			return "", "", &DestinationError{"--snapshots", err}
		}
		dest = loc.Child(FolderName(at)).String()
	case folder != "":
		dest = filepath.Join(folder, FolderName(at))
	default:
		dir, err := os.MkdirTemp("", "dynasnap-drill-")
		if err != nil {
			return "", "", fmt.Errorf("temporary folder for the snapshot: %w", err)
		}
		temp, dest = dir, filepath.Join(dir, "snapshot")
	}
	if err := snapshot.CheckOut(src, dest); err != nil {
		if temp != "" {
			os.RemoveAll(temp)
		}
		return "", "", &DestinationError{"--out", err}
	}
	return dest, temp, nil
}

// TakeSnapshot snapshots the backup in hs at o.Source, at the last whole
// second (as 'dynasnap snapshot' does by default), into the folder
// Destination picks, and opens it. On an error a temporary folder is
// removed already; a refused destination is a *DestinationError.
func TakeSnapshot(ctx context.Context, hs history.Source, o TakeOptions) (*Taken, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = discard{}
	}
	at, _ := history.Resolve("", o.Now())
	out, temp, err := Destination(o.Source, o.Out, o.Folder, at)
	if err != nil {
		return nil, err
	}
	t := &Taken{Temp: temp}
	fail := func(err error) (*Taken, error) {
		if temp != "" {
			os.RemoveAll(temp)
		}
		return nil, err
	}
	if o.Open == nil {
		return fail(errors.New("drill: TakeOptions.Open is not set"))
	}
	dest, err := o.Open(out)
	if err != nil {
		return fail(&DestinationError{"--out", err})
	}
	o.Log.Printf("taking a snapshot of %s at %s into %s", o.Source, at.UTC().Format(time.RFC3339), dest.URL(""))
	res, err := snapshot.Run(ctx, hs, dest, snapshot.Options{Source: o.Source, At: at, Tool: o.Tool,
		Listed: o.Listed, Fetched: o.Fetched})
	if err != nil {
		return fail(fmt.Errorf("snapshot %s: %w", o.Source, err))
	}
	t.Took = SpanOf(res.Elapsed)
	if t.Snapshot, err = snapshot.Open(ctx, dest); err != nil {
		return fail(err)
	}
	return t, nil
}
