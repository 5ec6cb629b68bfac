package scan

import "time"

// Folder picks, for each key, the version that holds its state at time At:
// the first entry in listing order (newest first) whose LastModified <= At.
// LastModified has whole-second precision, so listing order, never the
// timestamp, decides between entries of the same second. Feed it entries in
// listing order; it calls Emit once per key that exists at At.
type Folder struct {
	At   time.Time
	Emit func(Entry) error

	key     string
	started bool
	decided bool
	chosen  Entry
}

// Add takes the next listed entry.
func (f *Folder) Add(e Entry) error {
	if !f.started || e.Key != f.key {
		if err := f.Flush(); err != nil {
			return err
		}
		f.key, f.started, f.decided = e.Key, true, false
	}
	if !f.decided && !e.LastModified.After(f.At) {
		f.decided, f.chosen = true, e
	}
	return nil
}

// Flush emits the pending key; call it once after the last entry.
func (f *Folder) Flush() error {
	if !f.started {
		return nil
	}
	f.started = false
	if f.decided && !f.chosen.IsDelete {
		return f.Emit(f.chosen)
	}
	return nil
}
