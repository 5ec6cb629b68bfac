package journal

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/exportfmt"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/item"
)

// A compaction's base is also stored as a snapshot would write it
// (docs/DESIGN.md §10.6): beside each part, its items as a JSON-lines data
// file and its sidecar, gzipped, exactly the lines `snapshot` writes for
// the same items at the base's time. A snapshot at the base's time, with
// the default shape, copies those files instead of decoding, folding and
// compressing the table again (snapshot.copyReady): the day's state is a
// copy away, for restore, for Athena, for the DR drill.

// ExportPart is one base part's items in the shape of a snapshot's files.
type ExportPart struct {
	Data          string `json:"data"` // relative to the base's folder
	DataBytes     int64  `json:"dataBytes"`
	DataMD5       string `json:"dataMd5"` // base64, as a snapshot's manifest-files.json has it
	Sidecar       string `json:"sidecar"`
	SidecarBytes  int64  `json:"sidecarBytes"`
	SidecarSHA256 string `json:"sidecarSha256"`
	Items         int64  `json:"items"`
	// BilledBytes is the items' size by DynamoDB's rules, summed.
	BilledBytes int64 `json:"billedBytes"`
}

// exportExt names a base part's export twins: not .jsonl.gz, which names
// the journal's record files (the globs of §10.12 read those only).
const (
	exportDataExt    = ".items.json.gz"
	exportSidecarExt = ".sidecar.json.gz"
)

// exportSpec asks a base's part writer for the export files: the sidecar
// names the items' objects under dir, and their times by the fold's rule
// at the base's time.
type exportSpec struct {
	dir string
	at  time.Time
	lag time.Duration
}

// exportWriter gathers one part's export files beside the part. The first
// item that a snapshot would not write as it is (not canonical JSON, not a
// valid item, over the size limit) ends it for the whole base: a snapshot
// at that time then reads the base, which explains what is wrong.
type exportWriter struct {
	spec       *exportSpec
	keys       []string // the key's attribute names, learned from the records' Keys
	data, side *compressor
	dataBuf    []byte
	sideBuf    []byte
	items      int64
	billed     int64
}

func newExportWriter(spec *exportSpec, keys []string) *exportWriter {
	return &exportWriter{spec: spec, keys: keys, data: startCompressor(), side: startCompressor()}
}

// add writes r's item and sidecar lines; an error says why the base can
// have no export.
func (x *exportWriter) add(r *Record) error {
	body, size, ok := x.item(r)
	if !ok {
		return fmt.Errorf("the item of object id %s is not one DynamoDB would accept under its key: a snapshot must read it, and say so", r.ID)
	}
	body, size, err := exportfmt.WithoutReplication(body, size)
	if err != nil {
		return fmt.Errorf("object id %s: %w", r.ID, err)
	}
	x.dataBuf = exportfmt.AppendItem(x.dataBuf, body)
	at := time.UnixMilli(foldTime(r, x.spec.at, x.spec.lag)).UTC()
	x.sideBuf = exportfmt.AppendSidecar(x.sideBuf, x.spec.dir+r.ID, versionID(r), at)
	x.items++
	x.billed += size
	x.dataBuf = x.data.member(x.dataBuf)
	x.sideBuf = x.side.member(x.sideBuf)
	return nil
}

// item is r's item as a snapshot's walk writes it, and its size, by the
// walk's checks (history's Validate): a valid item within DynamoDB's size
// limit whose key hashes to its object id, as canonical JSON. ok=false for
// one the walk would refuse.
func (x *exportWriter) item(r *Record) ([]byte, int64, bool) {
	if len(r.NewImage) == 0 {
		return nil, 0, false
	}
	if x.keys != nil {
		if size, ok := history.CanonicalItem(r.NewImage, x.keys, r.ID); ok {
			return r.NewImage, size, size <= history.MaxItemBytes
		}
	}
	// The slow path, which also learns the key's names.
	keys, ok := keyNames(r.Keys)
	if !ok {
		return nil, 0, false
	}
	it, err := item.Unmarshal(r.NewImage)
	if err != nil || item.Validate(it) != nil {
		return nil, 0, false
	}
	if id, err := item.KeyID(it, keys...); err != nil || id != r.ID {
		return nil, 0, false
	}
	if k, _ := history.EmptyKeyAttribute(it, keys); k != "" {
		return nil, 0, false
	}
	x.keys = keys
	size := item.Size(it)
	if size > history.MaxItemBytes {
		return nil, 0, false
	}
	if _, canonical := item.CanonicalSize(r.NewImage); canonical {
		return r.NewImage, size, true
	}
	body, err := item.Marshal(it)
	return body, size, err == nil
}

// keyNames are the attribute names of a record's Keys, sorted.
func keyNames(raw []byte) ([]string, bool) {
	k, err := item.Unmarshal(raw)
	if err != nil || len(k) == 0 {
		return nil, false
	}
	var names []string
	for n := range k {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, true
}

// end hands the compressors the rest of the part.
func (x *exportWriter) end() {
	x.data.end(x.dataBuf)
	x.side.end(x.sideBuf)
	x.dataBuf, x.sideBuf = nil, nil
}

// store waits for the part's export files and stores them, beside the
// part named name in folder.
func (x *exportWriter) store(ctx context.Context, b Bucket, folder, name string) (*ExportPart, error) {
	data, err := x.data.result()
	if err != nil {
		return nil, err
	}
	side, err := x.side.result()
	if err != nil {
		return nil, err
	}
	stem := strings.TrimSuffix(name, partExt)
	e := &ExportPart{Data: stem + exportDataExt, DataBytes: int64(len(data)), Sidecar: stem + exportSidecarExt, SidecarBytes: int64(len(side)),
		Items: x.items, BilledBytes: x.billed}
	dsum := md5.Sum(data)
	e.DataMD5 = base64.StdEncoding.EncodeToString(dsum[:])
	ssum := sha256.Sum256(side)
	e.SidecarSHA256 = hex.EncodeToString(ssum[:])
	if err := b.Put(ctx, folder+e.Data, data, false); err != nil {
		return nil, err
	}
	if err := b.Put(ctx, folder+e.Sidecar, side, false); err != nil {
		return nil, err
	}
	return e, nil
}

// abandon lets the compressors finish, their output dropped.
func (x *exportWriter) abandon() {
	x.end()
	x.data.result()
	x.side.result()
}

// dropExport forgets the export files of a base that cannot have them all
// (exportErr): a snapshot copies a base's files only when every part has
// them. Those stored go with the base's folder, like any object no
// manifest names; deleting them now is only tidier.
func (w *partWriter) dropExport(ctx context.Context) {
	if w.exportErr == nil {
		return
	}
	var keys []string
	for i := range w.parts {
		if e := w.parts[i].Export; e != nil {
			keys = append(keys, w.folder+e.Data, w.folder+e.Sidecar)
			w.parts[i].Export = nil
		}
	}
	_ = deleteKeys(ctx, w.b, keys)
}

// exportDir marks a manifest whose every part has its export files with
// the table folder their sidecars name.
func (w *partWriter) exportDir(m *Manifest) {
	if w.export == nil || len(m.Files) == 0 {
		return
	}
	for _, p := range m.Files {
		if p.Export == nil {
			return
		}
	}
	m.ExportDir = w.export.dir
}

// ReadyBase is a base whose parts all have their export files.
type ReadyBase struct {
	Folder string // the base's folder
	Parts  []Part
}

// ReadyAt is the base that is the whole of a read at t with its export
// files (nil: none): the plan at t is that base alone (t is its time, or
// nothing after it is planned), and its files name this table folder.
func (s *State) ReadyAt(ctx context.Context, b Bucket, t time.Time) (*ReadyBase, error) {
	plan := s.Plan(t, t, true)
	if len(plan) != 1 || !plan[0].base {
		return nil, nil
	}
	o := plan[0].out
	m, err := readManifest(ctx, b, o.manifestKey())
	if err != nil {
		return nil, err
	}
	if m.ExportDir != s.Dir || len(m.Files) == 0 {
		return nil, nil
	}
	for _, p := range m.Files {
		if p.Export == nil {
			return nil, nil
		}
	}
	return &ReadyBase{Folder: o.Folder, Parts: m.Files}, nil
}
