package history

import "time"

// Key is one object key's history folded at the walk's times, built from
// its entries in listing order (newest first) without holding them.
type Key struct {
	ObjectKey string
	// At[i] is the entry that holds the key's state at Times[i] and
	// Exists[i] whether the item existed then (docs/DESIGN.md §3).
	At     []Entry
	Exists []bool
	// Pos[i] is At[i]'s position in the key's listing (0: the newest
	// entry), or the number of entries when none is old enough. With
	// Times[i] before Times[j], the entries in (Times[i], Times[j]] are
	// those at positions Pos[j] to Pos[i]-1.
	Pos []int
	// Newest is the newest version that is not a delete marker, to read
	// the key's attributes from when only deletions follow it.
	Newest   Entry
	HasImage bool
	Versions int // entries listed
	Newer    int // entries newer than Times[0] (left out of a state at it)
	// Deletes are the delete markers (a journal's REMOVEs) newer than
	// Times[0], newest first, each with the entry listed after it: what
	// ResolveExpired needs to tell a TTL delete (docs/DESIGN.md §2.4).
	Deletes []Delete
	// Recent holds every entry newer than Times[0], newest first, when
	// the plan asks for them (Plan.Recent).
	Recent  []Entry
	decided []bool
	oldest  time.Time
}

// Delete is a delete marker of a Key, with its position in the key's
// listing and the entry listed after it (older), if any.
type Delete struct {
	Entry
	Pos       int
	Behind    Entry
	HasBehind bool
}

// DeletesIn returns the key's Deletes at listing positions [from, to):
// with Times[i] before Times[j], those in (Times[i], Times[j]] are
// DeletesIn(Pos[j], Pos[i]).
func (k *Key) DeletesIn(from, to int) []Delete {
	var out []Delete
	for _, d := range k.Deletes {
		if d.Pos >= from && d.Pos < to {
			out = append(out, d)
		}
	}
	return out
}

// Changed reports whether any entry is newer than Times[0].
func (k *Key) Changed() bool { return k.Newer > 0 }

// StateAt returns the entry that holds a key's state at t: the first entry
// in listing order with LastModified <= t. ok is false when the item did
// not exist at t (no such entry, or it is a delete marker). Listing order,
// never the timestamp, decides between entries of the same second.
func StateAt(entries []Entry, t time.Time) (e Entry, ok bool) {
	for _, e := range entries {
		if !e.LastModified.After(t) {
			return e, !e.IsDelete
		}
	}
	return Entry{}, false
}

// folder folds a stream of entries in listing order into Keys.
type folder struct {
	times []time.Time
	emit  func(*Key) error
	cur   *Key
	// recent keeps the entries newer than times[0] in Key.Recent.
	recent bool
}

func (f *folder) add(e Entry) error {
	if f.cur == nil || f.cur.ObjectKey != e.Key {
		if err := f.flush(); err != nil {
			return err
		}
		f.cur = &Key{ObjectKey: e.Key, At: make([]Entry, len(f.times)), Exists: make([]bool, len(f.times)), Pos: make([]int, len(f.times)), decided: make([]bool, len(f.times))}
	}
	k := f.cur
	if n := len(k.Deletes); n > 0 && k.Deletes[n-1].Pos == k.Versions-1 {
		k.Deletes[n-1].Behind, k.Deletes[n-1].HasBehind = e, true
	}
	if e.IsDelete && (len(f.times) == 0 || e.LastModified.After(f.times[0])) {
		k.Deletes = append(k.Deletes, Delete{Entry: e, Pos: k.Versions})
	}
	k.Versions++
	if k.oldest.IsZero() || e.LastModified.Before(k.oldest) {
		k.oldest = e.LastModified
	}
	if !e.IsDelete && !k.HasImage {
		k.Newest, k.HasImage = e, true
	}
	for i, t := range f.times {
		if !k.decided[i] && !e.LastModified.After(t) {
			k.decided[i], k.At[i], k.Exists[i], k.Pos[i] = true, e, !e.IsDelete, k.Versions-1
		}
	}
	// A server's clock can step, so every entry is looked at, not only
	// those before the first that is old enough.
	if len(f.times) > 0 && e.LastModified.After(f.times[0]) {
		k.Newer++
		if f.recent {
			k.Recent = append(k.Recent, e)
		}
	}
	return nil
}

func (f *folder) flush() error {
	if f.cur == nil {
		return nil
	}
	k := f.cur
	f.cur = nil
	for i, d := range k.decided {
		if !d {
			k.Pos[i] = k.Versions
		}
	}
	k.decided = nil
	return f.emit(k)
}

// Fold folds one key's entries, in listing order, at times.
func Fold(entries []Entry, times []time.Time) *Key {
	var out *Key
	f := &folder{times: times, emit: func(k *Key) error { out = k; return nil }}
	for _, e := range entries {
		f.add(e)
	}
	f.flush()
	return out
}
