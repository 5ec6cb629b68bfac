package restore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Checkpoint records the data files of a snapshot that are fully written
// into the table, in a local JSON file replaced atomically after each one.
// A rerun after a crash skips them; the files in flight are written again,
// which is harmless since a put of the same item is idempotent.
type Checkpoint struct {
	Path string

	mu    sync.Mutex
	state checkpointState
	done  map[string]bool
}

type checkpointState struct {
	Snapshot   string    `json:"snapshot"`
	ExportTime time.Time `json:"exportTime"`
	Table      string    `json:"table"`
	Filter     string    `json:"filter,omitempty"`
	Started    time.Time `json:"started"`
	Updated    time.Time `json:"updated"`
	Finished   []string  `json:"finishedDataFiles"`
	Items      int64     `json:"itemsInFinishedFiles"`
}

// OpenCheckpoint loads the checkpoint at path for this restore, or starts a
// new one. A checkpoint left by a restore of another snapshot or into
// another table is an error, not silently reused.
func OpenCheckpoint(path, snapshotURL string, exportTime time.Time, table string) (cp *Checkpoint, resumed bool, err error) {
	return OpenFilteredCheckpoint(path, snapshotURL, exportTime, table, "")
}

// OpenFilteredCheckpoint is OpenCheckpoint for a restore of only the items
// a filter selects (filter describes it): files finished under another
// filter hold other items, so a checkpoint is reused only with the same one.
func OpenFilteredCheckpoint(path, snapshotURL string, exportTime time.Time, table, filter string) (cp *Checkpoint, resumed bool, err error) {
	cp = &Checkpoint{Path: path, done: map[string]bool{},
		state: checkpointState{Snapshot: snapshotURL, ExportTime: exportTime.UTC(), Table: table, Filter: filter, Started: time.Now().UTC()}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cp, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read checkpoint: %w", err)
	}
	var st checkpointState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, false, fmt.Errorf("checkpoint %s is not valid JSON (%v); delete it to start over", path, err)
	}
	if st.Snapshot != snapshotURL || st.Table != table || !st.ExportTime.Equal(exportTime) || st.Filter != filter {
		of := ""
		if st.Filter != "" {
			of = " (only items with " + st.Filter + ")"
		}
		return nil, false, fmt.Errorf("checkpoint %s belongs to a restore of %s (at %s)%s into table %s; delete it or pass another --checkpoint",
			path, st.Snapshot, st.ExportTime.Format(time.RFC3339), of, st.Table)
	}
	cp.state = st
	for _, f := range st.Finished {
		cp.done[f] = true
	}
	return cp, true, nil
}

// Done reports whether a data file was finished by an earlier run.
func (c *Checkpoint) Done(file string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done[file]
}

// Finished returns how many files and items earlier runs finished.
func (c *Checkpoint) Finished() (files int, items int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.state.Finished), c.state.Items
}

// MarkDone records a finished file durably before returning.
func (c *Checkpoint) MarkDone(file string, items int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done[file] {
		return nil
	}
	c.done[file] = true
	c.state.Finished = append(c.state.Finished, file)
	sort.Strings(c.state.Finished)
	c.state.Items += items
	c.state.Updated = time.Now().UTC()
	return c.save()
}

// Save writes the checkpoint even with no file finished yet, so that a
// restore killed early still proves the table's items are its own.
func (c *Checkpoint) Save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.save()
}

func (c *Checkpoint) save() error {
	b, err := json.MarshalIndent(c.state, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o755); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.Path), "."+filepath.Base(c.Path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), c.Path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write checkpoint %s: %w", c.Path, err)
	}
	return nil
}

// Remove deletes the checkpoint after a finished restore.
func (c *Checkpoint) Remove() error {
	if err := os.Remove(c.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove checkpoint: %w", err)
	}
	return nil
}
