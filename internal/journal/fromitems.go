package journal

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
)

// Moving a per-item backup over (docs/DESIGN.md §10.14): `compact
// --from-items` imports every version of a versioned per-item backup
// (dynasnap's, or mapbox/dynamodb-replicator's incremental backup) up to a
// cut into a level-1 output (epoch, cut] with every version and a base at
// the cut, then writes the window marker and the descriptor, which switch
// readers and writers over; a second run, once the writers write segments,
// folds the item versions stored after the cut into the level output
// (cut, cut2] with the segments and removes the marker.

// Formats of a per-item backup.
const (
	ItemsDynasnap = "dynasnap" // PREFIX/TABLE/<object id>: the item's canonical JSON; a delete marker per REMOVE
	ItemsMapbox   = "mapbox"   // PREFIX/TABLE/<md5 hex of the stream record's Keys JSON>: the NewImage JSON; a delete marker per REMOVE
)

// importStream names the changes imported from item versions: a stream
// without a label, so they sort before every stream's own (§10.3).
const importStream = "dynasnap:items"

// itemsFolder holds the import's checkpoint and runs, and the window
// marker journal/items/window-<cut>.json while item versions after the
// cut are not yet folded into the journal.
const itemsFolder = Folder + "items/"

// FromItems imports a per-item backup into the journal of Dir.
type FromItems struct {
	Bucket   Bucket         // the journal's bucket
	Versions history.Source // lists and reads the item versions (same bucket)
	Dir      string         // the table folder, "prefix/table/"
	ItemsDir string         // the per-item folder ("" : Dir)
	Format   string         // ItemsDynasnap or ItemsMapbox
	Schema   keyschema.Schema
	Lag      time.Duration // the journal's lag, for a new descriptor
	Skew     time.Duration
	Clock    Clock
	Tool     string
	// PartBytes cuts the outputs' parts; Concurrency is the GETs of
	// version bodies at once.
	PartBytes   int64
	Concurrency int
	Progress    func(format string, args ...any)
}

// FromItemsReport is what an import did.
type FromItemsReport struct {
	Phase         string    `json:"phase"` // "import" (up to the cut) or "close" (the window after it)
	Cut           time.Time `json:"cut"`
	WindowTo      time.Time `json:"windowTo,omitzero"` // close: the window folded, (cut, windowTo]
	Versions      int64     `json:"versions"`          // item versions imported (puts)
	Deletes       int64     `json:"deletes"`           // delete markers imported
	Skipped       int64     `json:"skipped"`           // delete markers with no version before them, objects of another name
	ShardsResumed int       `json:"shardsResumed"`     // id-space shards a previous run had imported
	Items         int64     `json:"items"`             // items in the base at the cut
}

// importShards: the listing is cut by the first two hex digits of the
// object names; each shard is one sorted run, stored before the next
// begins, so a rerun imports only the shards not yet stored.
const importShards = 256

type importCheckpoint struct {
	Cut      time.Time `json:"cut"`
	Format   string    `json:"format"`
	ItemsDir string    `json:"itemsDir"`
}

func (f *FromItems) say(format string, args ...any) {
	if f.Progress != nil {
		f.Progress(format, args...)
	}
}

func (f *FromItems) clock() Clock {
	if f.Clock == nil {
		return realClock{}
	}
	return f.Clock
}

// Run imports, or closes the window of an earlier import.
func (f *FromItems) Run(ctx context.Context) (*FromItemsReport, error) {
	if f.ItemsDir == "" {
		f.ItemsDir = f.Dir
	}
	if f.Format != ItemsDynasnap && f.Format != ItemsMapbox {
		return nil, fmt.Errorf("items format %q: want %s or %s", f.Format, ItemsDynasnap, ItemsMapbox)
	}
	if cut, ok, err := f.window(ctx); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return f.close(ctx, cut)
	}
	cp, err := f.checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	rep := &FromItemsReport{Phase: "import", Cut: cp.Cut}
	runs := f.Dir + itemsFolder + "run-"
	done := map[string]bool{}
	if err := f.Bucket.List(ctx, runs, "", func(o Object) bool { done[o.Key] = true; return true }); err != nil {
		return nil, err
	}
	var keys [][]string
	for s := range importShards {
		key := fmt.Sprintf("%s%02x%s", runs, s, partExt)
		keys = append(keys, []string{key})
		if done[key] {
			rep.ShardsResumed++
			continue
		}
		recs, err := f.importPrefix(ctx, fmt.Sprintf("%02x", s), epoch, cp.Cut, rep)
		if err != nil {
			return rep, fmt.Errorf("import s3://%s/%s%02x…: %w", f.Versions.Bucket(), f.ItemsDir, s, err)
		}
		sortRecords(recs)
		body, _ := encodeRun(recs)
		if err := f.Bucket.Put(ctx, key, body, false); err != nil {
			return rep, err
		}
		if s%32 == 31 {
			f.say("imported %d of %d shards of the id space (%d versions, %d deletes)", s+1, importShards, rep.Versions, rep.Deletes)
		}
	}
	// Every version up to the cut, and the state at the cut.
	run := newRunID()
	lw := newPartWriter(f.Bucket, levelFolder(f.Dir, 1, epoch, cp.Cut), run, 0, f.PartBytes)
	bw := newPartWriter(f.Bucket, baseFolderAt(f.Dir, cp.Cut), run, 0, f.PartBytes)
	r := &Reader{Bucket: f.Bucket}
	err = r.mergeKeys(ctx, keys, func(g []Record) error {
		for i := range g {
			if err := lw.add(ctx, &g[i]); err != nil {
				return err
			}
		}
		if last := &g[len(g)-1]; !last.IsDelete() {
			rep.Items++
			return bw.add(ctx, last)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	from := epoch
	if _, err := lw.finish(ctx, 1, Manifest{Kind: kindLevel, Level: 1, From: &from, To: cp.Cut, Tool: f.Tool}); err != nil {
		return rep, err
	}
	if _, err := bw.finish(ctx, 1, Manifest{Kind: kindBase, To: cp.Cut, Tool: f.Tool}); err != nil {
		return rep, err
	}
	// The window marker, then the descriptor: from here on readers read
	// the journal and the item versions after the cut, and writers write
	// segments. A backup in another folder (mapbox's) has no window: the
	// journal's writer wrote segments since before the cut.
	if f.ItemsDir == f.Dir {
		marker, _ := json.Marshal(cp)
		if err := f.Bucket.Put(ctx, windowKey(f.Dir, cp.Cut), marker, false); err != nil {
			return rep, err
		}
	}
	if _, err := ReadDescriptor(ctx, f.Bucket, f.Dir); errors.Is(err, ErrNoJournal) {
		nd := Descriptor{FormatVersion: FormatVersion, Layout: "journal", LagSeconds: int64(f.Lag / time.Second), UpdatedAt: time.Now().UTC(), Tool: f.Tool}
		body, _ := json.MarshalIndent(nd, "", "  ")
		if err := f.Bucket.Put(ctx, f.Dir+DescriptorName, append(body, '\n'), true); err != nil && !errors.Is(err, ErrExists) {
			return rep, err
		}
	} else if err != nil {
		return rep, err
	}
	for _, k := range keys {
		if err := f.Bucket.Delete(ctx, k[0]); err != nil {
			return rep, err
		}
	}
	return rep, f.Bucket.Delete(ctx, f.Dir+itemsFolder+"checkpoint.json")
}

// checkpoint reads the import's cut, or fixes it: the second before now
// less the skew, so every version stored by then is listed.
func (f *FromItems) checkpoint(ctx context.Context) (*importCheckpoint, error) {
	key := f.Dir + itemsFolder + "checkpoint.json"
	body, err := readAll(ctx, f.Bucket, key)
	if err == nil {
		var cp importCheckpoint
		if err := json.Unmarshal(body, &cp); err != nil {
			return nil, fmt.Errorf("s3://%s/%s: %w", f.Bucket.Name(), key, err)
		}
		if cp.Format != f.Format || cp.ItemsDir != f.ItemsDir {
			return nil, fmt.Errorf("an import of %s items from %s is under way (s3://%s/%s): finish it with the same flags, or delete that file", cp.Format, cp.ItemsDir, f.Bucket.Name(), key)
		}
		f.say("resuming the import up to %s", cp.Cut.Format(time.RFC3339))
		return &cp, nil
	}
	if !errors.Is(err, ErrNotExist) {
		return nil, err
	}
	// A folder already compacted or imported has outputs the import's
	// (epoch, cut] would overlap.
	var found string
	err = f.Bucket.List(ctx, f.Dir+Folder, f.Dir+segmentFolder+"~", func(o Object) bool {
		if strings.HasSuffix(o.Key, "/"+ManifestName) {
			found = o.Key
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if found != "" {
		return nil, fmt.Errorf("s3://%s/%s already has journal outputs (%s): import a per-item backup before the first compact", f.Bucket.Name(), f.Dir, found)
	}
	cp := &importCheckpoint{Cut: f.clock().Now().Add(-max(f.Skew, time.Second)).Truncate(time.Second).UTC(), Format: f.Format, ItemsDir: f.ItemsDir}
	if f.ItemsDir != f.Dir {
		// The changes after the cut are the journal's segments only: its
		// writer must have stored one by the cut (and been running since).
		lag := f.Lag
		if d, err := ReadDescriptor(ctx, f.Bucket, f.Dir); err == nil {
			lag = d.Lag()
		}
		var first *Object
		if err := f.Bucket.List(ctx, f.Dir+segmentFolder, "", func(o Object) bool { first = &o; return false }); err != nil {
			return nil, err
		}
		if first == nil || first.LastModified.After(cp.Cut.Add(-lag)) {
			return nil, fmt.Errorf("s3://%s/%s has no segment stored by %s (the cut less the lag): deploy the dynasnap writer with the journal layout into it first, wait the lag, then import the backup of %s",
				f.Bucket.Name(), f.Dir, cp.Cut.Add(-lag).Format(time.RFC3339), f.ItemsDir)
		}
	}
	b, _ := json.Marshal(cp)
	if err := f.Bucket.Put(ctx, key, b, true); err != nil {
		return nil, err
	}
	return cp, nil
}

func windowKey(dir string, cut time.Time) string {
	return dir + itemsFolder + "window-" + formatNameTime(cut) + ".json"
}

// window finds the marker of an import whose window is open.
func (f *FromItems) window(ctx context.Context) (time.Time, bool, error) {
	var cut time.Time
	var ok bool
	err := f.Bucket.List(ctx, f.Dir+itemsFolder+"window-", "", func(o Object) bool {
		cut, ok = parseWindowKey(f.Dir, o.Key)
		return !ok
	})
	return cut, ok, err
}

func parseWindowKey(dir, key string) (time.Time, bool) {
	name, ok := strings.CutPrefix(key, dir+itemsFolder+"window-")
	if !ok || !strings.HasSuffix(name, ".json") {
		return time.Time{}, false
	}
	t, err := parseNameTime(strings.TrimSuffix(name, ".json"))
	return t, err == nil
}

// importPrefix reads the versions of the objects named prefix… with a
// LastModified in (from, to] as records.
func (f *FromItems) importPrefix(ctx context.Context, prefix string, from, to time.Time, rep *FromItemsReport) ([]Record, error) {
	var entries []history.Entry
	if err := f.listVersions(ctx, prefix, func(page []history.Entry) { entries = append(entries, page...) }); err != nil {
		return nil, err
	}
	// Bodies of the puts, read at once.
	bodies := make([][]byte, len(entries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(f.Concurrency, 1))
	for i, e := range entries {
		if e.IsDelete || !f.wanted(e, from, to) {
			continue
		}
		g.Go(func() error {
			var buf bytes.Buffer
			if err := f.Versions.Read(gctx, e.Key, e.VersionID, &buf); err != nil {
				return fmt.Errorf("read s3://%s/%s version %s: %w", f.Versions.Bucket(), e.Key, e.VersionID, err)
			}
			bodies[i] = buf.Bytes()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var recs []Record
	// Each object's versions, oldest first (the listing gives them newest
	// first); a delete takes the key of the put before it.
	for lo := 0; lo < len(entries); {
		hi := lo
		for hi < len(entries) && entries[hi].Key == entries[lo].Key {
			hi++
		}
		name := strings.TrimPrefix(entries[lo].Key, f.ItemsDir)
		if !f.objectName(name) {
			rep.Skipped += int64(hi - lo)
			lo = hi
			continue
		}
		var keys []byte
		var id string
		// The versions before the window give a delete in it its key.
		for i := hi - 1; i >= lo; i-- {
			e := entries[i]
			if !f.wanted(e, from, to) {
				if !e.IsDelete && !e.LastModified.After(from) && keys == nil {
					// A put before the window: its key (read for it).
					if b, err := f.readKeyOf(ctx, e); err == nil {
						keys, id = b.keys, b.id
					}
				}
				continue
			}
			seq := strconv.FormatInt(e.LastModified.UnixMilli()*1_000_000+int64(hi-1-i), 10)
			r := Record{TimeMs: e.LastModified.UnixMilli(), StoredMs: e.LastModified.UnixMilli(), Seq: seq, Stream: importStream}
			if e.IsDelete {
				if keys == nil {
					rep.Skipped++
					continue
				}
				r.ID, r.Keys, r.Event = id, keys, EventRemove
				rep.Deletes++
			} else {
				k, err := f.image(name, bodies[i])
				if err != nil {
					return nil, fmt.Errorf("s3://%s/%s version %s: %w", f.Versions.Bucket(), e.Key, e.VersionID, err)
				}
				keys, id = k.keys, k.id
				r.ID, r.Keys, r.NewImage, r.Event = k.id, k.keys, k.image, EventModify
				rep.Versions++
			}
			recs = append(recs, r)
		}
		lo = hi
	}
	return recs, nil
}

func (f *FromItems) wanted(e history.Entry, from, to time.Time) bool {
	lm := e.LastModified.Truncate(time.Second)
	return lm.After(from) && !lm.After(to)
}

// objectName reports whether name is an item's object of the format.
func (f *FromItems) objectName(name string) bool {
	n := 64
	if f.Format == ItemsMapbox {
		n = 32
	}
	if len(name) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if c := name[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

type importedImage struct {
	id    string
	keys  []byte
	image []byte
}

// image decodes one version's body: its canonical image, key attributes
// and object id (checked against the object's name where the format
// names objects by it).
func (f *FromItems) image(name string, body []byte) (importedImage, error) {
	it, err := item.Unmarshal(body)
	if err != nil {
		return importedImage{}, fmt.Errorf("not an item: %w", err)
	}
	img, err := item.Marshal(it)
	if err != nil {
		return importedImage{}, err
	}
	k, err := f.Schema.Key(it)
	if err != nil {
		return importedImage{}, err
	}
	keys, err := item.Marshal(k)
	if err != nil {
		return importedImage{}, err
	}
	id, err := f.Schema.KeyID(it)
	if err != nil {
		return importedImage{}, err
	}
	if f.Format == ItemsDynasnap && id != name {
		return importedImage{}, fmt.Errorf("the item's key %s (key schema %s) has object id %s, not the object's name", keys, f.Schema, id)
	}
	return importedImage{id: id, keys: keys, image: img}, nil
}

// readKeyOf reads a version before the window for its key.
func (f *FromItems) readKeyOf(ctx context.Context, e history.Entry) (importedImage, error) {
	var buf bytes.Buffer
	if err := f.Versions.Read(ctx, e.Key, e.VersionID, &buf); err != nil {
		return importedImage{}, err
	}
	return f.image(strings.TrimPrefix(e.Key, f.ItemsDir), buf.Bytes())
}

// MapboxObjectName is the name mapbox/dynamodb-replicator's incremental
// backup gives an item: the md5 of its stream record's Keys as
// JSON.stringify wrote them (attribute order as the record had it).
func MapboxObjectName(keysJSON []byte) string {
	sum := md5.Sum(keysJSON)
	return hex.EncodeToString(sum[:])
}

// close folds the item versions stored after the cut of an import, up to
// cut2 (now less the lag and the skew), with the segments' changes of
// (cut, cut2], into the level-1 output (cut, cut2], and removes the
// window marker: readers stop reading item versions, compaction goes on
// from cut2. A version stored after cut2 means a writer still writes
// items: nothing is written, the run is to be repeated.
func (f *FromItems) close(ctx context.Context, cut time.Time) (*FromItemsReport, error) {
	st, err := LoadState(ctx, f.Bucket, f.Dir)
	if err != nil {
		return nil, err
	}
	lag := st.Desc.Lag()
	cut2 := f.clock().Now().Add(-lag - max(f.Skew, time.Second)).Truncate(time.Second).UTC()
	rep := &FromItemsReport{Phase: "close", Cut: cut, WindowTo: cut2}
	if !cut2.After(cut) {
		return rep, fmt.Errorf("the import's window starts at %s: run again after %s (the lag and the skew)", cut.Format(time.RFC3339), cut.Add(lag+max(f.Skew, time.Second)+time.Second).Format(time.RFC3339))
	}
	var recs []Record
	var newest time.Time
	for s := range importShards {
		prefix := fmt.Sprintf("%02x", s)
		rs, err := f.importPrefix(ctx, prefix, cut, cut2, rep)
		if err != nil {
			return rep, err
		}
		recs = append(recs, rs...)
		if err := f.newestVersion(ctx, prefix, &newest); err != nil {
			return rep, err
		}
	}
	if newest.After(cut2) {
		return rep, fmt.Errorf("a writer still writes items: s3://%s/%s has a version stored at %s, after %s; run again once every writer writes segments (a writer with DYNASNAP_LAYOUT=journal switches within a minute of the import)",
			f.Versions.Bucket(), f.ItemsDir, newest.Format(time.RFC3339), cut2.Format(time.RFC3339))
	}
	sortRecords(recs)
	w := newPartWriter(f.Bucket, levelFolder(f.Dir, 1, cut, cut2), newRunID(), 0, f.PartBytes)
	r := &Reader{Bucket: f.Bucket}
	var rs ReadStats
	sp := span{Lo: cut, Hi: cut2}
	segs, err := st.segments(ctx, f.Bucket, cut, cut2)
	if err != nil {
		return rep, err
	}
	g, gctx := errgroup.WithContext(ctx)
	var cursors []*cursor
	for _, o := range segs {
		cursors = append(cursors, r.segmentCursor(gctx, g, o, sp, "", "", lag, false, cut2, &rs))
	}
	items := newCursor()
	items.fill(g, func() error {
		for i := 0; i < len(recs); i += batchSize {
			if err := items.send(gctx, batch(recs[i:min(i+batchSize, len(recs))])); err != nil {
				return err
			}
		}
		return nil
	})
	cursors = append(cursors, items)
	g.Go(func() error {
		return mergeCursors(gctx, cursors, time.Time{}, func(grp []Record, _ time.Time) error {
			for i := range grp {
				if err := w.add(gctx, &grp[i]); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err := g.Wait(); err != nil {
		return rep, err
	}
	from := cut
	if _, err := w.finish(ctx, 1, Manifest{Kind: kindLevel, Level: 1, From: &from, To: cut2, Tool: f.Tool}); err != nil {
		return rep, err
	}
	return rep, f.Bucket.Delete(ctx, windowKey(f.Dir, cut))
}

// newestVersion notes the newest LastModified of the item objects named
// prefix….
func (f *FromItems) newestVersion(ctx context.Context, prefix string, newest *time.Time) error {
	return f.listVersions(ctx, prefix, func(page []history.Entry) {
		for _, e := range page {
			if f.objectName(strings.TrimPrefix(e.Key, f.ItemsDir)) && e.LastModified.After(*newest) {
				*newest = e.LastModified
			}
		}
	})
}

// listVersions lists the versions of the objects named prefix…, a page
// at a time.
func (f *FromItems) listVersions(ctx context.Context, prefix string, fn func([]history.Entry)) error {
	cur := history.Marker{}
	for {
		page, err := f.Versions.List(ctx, f.ItemsDir+prefix, cur, 0)
		if err != nil {
			return err
		}
		fn(page.Entries)
		if !page.IsTruncated {
			return nil
		}
		next := history.Marker{Key: page.NextKeyMarker, VersionID: page.NextVersionIDMarker}
		if next.Key == "" || next == cur {
			return fmt.Errorf("list versions s3://%s/%s: truncated page without progress", f.Versions.Bucket(), f.ItemsDir+prefix)
		}
		cur = next
	}
}

// noteObject records a listed object that is no output's manifest
// (LoadState): the window marker of an import.
func (s *State) noteObject(o Object) {
	if cut, ok := parseWindowKey(s.Dir, o.Key); ok {
		s.Window = cut
	}
}

// ItemsWindow is the cut of an import whose window is open (zero: none):
// the item versions stored after it belong to the journal too until
// `compact --from-items` runs again (readers merge them, §10.14).
func (s *State) ItemsWindow() time.Time { return s.Window }

// checkWindow refuses compaction while an import's window is open: its
// level-1 output after the cut must be the import's.
func (s *State) checkWindow() error {
	if s.Window.IsZero() {
		return nil
	}
	return fmt.Errorf("an import of a per-item backup (cut %s) has its window open: run compact --from-items again, once every writer writes segments, before compacting", s.Window.Format(time.RFC3339))
}
