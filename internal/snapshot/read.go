package snapshot

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// Snapshot is a finished snapshot opened for reading.
type Snapshot struct {
	Store   store.Store
	Summary *Summary
	Files   []FileEntry
}

// Open reads the manifests of the snapshot in st; a folder without
// manifest-summary.json is refused (ErrIncomplete). st may also be the
// folder above an export in AWS's layout (it holds AWSDynamoDB/<id>/):
// with one export there it is opened, with several they are named and
// one must be chosen. An incremental export is refused (it holds changes,
// not a table: restore --changes applies it), and so is an ION one.
func Open(ctx context.Context, st store.Store) (*Snapshot, error) {
	st, sum, files, err := openExport(ctx, st, false)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Store: st, Summary: sum, Files: files}, nil
}

// openExport finds the export st names (Locate) and reads its manifests,
// refusing ION and the other kind of export than incremental asks for.
func openExport(ctx context.Context, st store.Store, incremental bool) (store.Store, *Summary, []FileEntry, error) {
	st, err := Locate(ctx, st)
	if err != nil {
		return nil, nil, nil, err
	}
	sum, err := ReadSummary(ctx, st)
	if err != nil {
		return nil, nil, nil, err
	}
	switch {
	case sum.OutputFormat == "ION":
		return nil, nil, nil, fmt.Errorf("%s is an export in Amazon Ion format (outputFormat ION), which dynasnap does not read; export as DYNAMODB_JSON", st.URL(""))
	case sum.Incremental() && !incremental:
		return nil, nil, nil, fmt.Errorf("%s is an incremental export (changes from %s to %s), not a snapshot of a table: apply it to a restored table with restore --changes", st.URL(""), awsTime(sum.ExportFromTime), awsTime(sum.ExportToTime))
	case !sum.Incremental() && incremental:
		return nil, nil, nil, fmt.Errorf("%s is a full export (a snapshot of the table at %s), not an incremental one: restore it with --snapshot", st.URL(""), awsTime(sum.ExportTime))
	case incremental && sum.OutputFormat != "DYNAMODB_JSON":
		return nil, nil, nil, fmt.Errorf("%s: output format %q is not readable by this version", st.URL(""), sum.OutputFormat)
	}
	files, err := ReadFiles(ctx, st)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkManifests(st, sum, files); err != nil {
		return nil, nil, nil, err
	}
	return st, sum, files, nil
}

// checkManifests checks the summary against the file list it describes:
// the item count, the number of data files, no data file listed twice.
// Each data file is checked against its own line when it is read.
func checkManifests(st store.Store, sum *Summary, files []FileEntry) error {
	var items int64
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		if seen[f.Data] {
			return fmt.Errorf("%s lists %s twice: the manifest was edited or damaged; take a new snapshot", st.URL(FilesName), f.Data)
		}
		seen[f.Data] = true
		if f.ItemCount < 0 {
			return fmt.Errorf("%s gives %s a negative item count: the manifest was edited or damaged", st.URL(FilesName), f.Data)
		}
		items += f.ItemCount
	}
	if items != sum.ItemCount {
		return fmt.Errorf("%s says %d items, %s lists %d: the manifests disagree (edited or damaged); take a new snapshot", st.URL(SummaryName), sum.ItemCount, st.URL(FilesName), items)
	}
	if sum.Dynasnap.FormatVersion > 0 && sum.Dynasnap.DataFiles != len(files) {
		return fmt.Errorf("%s says %d data files, %s lists %d: the manifests disagree (edited or damaged); take a new snapshot", st.URL(SummaryName), sum.Dynasnap.DataFiles, st.URL(FilesName), len(files))
	}
	return nil
}

// Definition reads the snapshot's table-definition.json: the table as
// recorded at the snapshot's time. nil when the snapshot has none (taken
// from a backup without one, or an AWS export).
func (s *Snapshot) Definition(ctx context.Context) (*tabledef.Definition, error) {
	return readDefinition(ctx, s.Store)
}

func readDefinition(ctx context.Context, st store.Store) (*tabledef.Definition, error) {
	r, err := st.Open(ctx, DefinitionName)
	if errors.Is(err, store.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", st.URL(DefinitionName), err)
	}
	d, err := tabledef.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", st.URL(DefinitionName), err)
	}
	return d, nil
}

// Locate returns the export folder st names: st itself when it holds
// manifest-summary.json, else the one finished export under
// st/AWSDynamoDB/ (AWS's layout). With none it returns st, for the
// caller's ErrIncomplete; with several it names them.
func Locate(ctx context.Context, st store.Store) (store.Store, error) {
	if ok, err := st.Exists(ctx, SummaryName); err != nil || ok {
		return st, err
	}
	names, err := st.List(ctx, AWSDir)
	if err != nil {
		return nil, err
	}
	var found []string
	for _, n := range names {
		// AWSDynamoDB/<id>/manifest-summary.json
		if parts := strings.Split(n, "/"); len(parts) == 3 && parts[2] == SummaryName {
			found = append(found, parts[0]+"/"+parts[1])
		}
	}
	switch len(found) {
	case 0:
		return st, nil
	case 1:
		sub, ok := store.Sub(st, found[0])
		if !ok {
			return st, nil
		}
		return sub, nil
	}
	var urls []string
	for _, f := range found {
		urls = append(urls, st.URL(f))
	}
	return nil, fmt.Errorf("%s holds %d exports; name one:\n  %s", st.URL(""), len(found), strings.Join(urls, "\n  "))
}

// Line is one item of a snapshot with where it came from.
type Line struct {
	Item   json.RawMessage // the item as compact DynamoDB JSON
	Source SidecarLine     // zero if the snapshot has no sidecar
}

// Each calls fn for every item of one data file, in file order. The
// file's item count and MD5 are checked only at its end: fn has seen every
// item by then. EachChecked checks first.
func (s *Snapshot) Each(ctx context.Context, f FileEntry, fn func(Line) error) error {
	file, err := s.Store.Open(ctx, f.Data)
	if err != nil {
		return err
	}
	defer file.Close()
	var side io.Reader
	if f.Sidecar != "" {
		sraw, err := s.Store.Open(ctx, f.Sidecar)
		if err != nil {
			return err
		}
		defer sraw.Close()
		side = sraw
	}
	return s.eachFrom(ctx, f, file, side, fn)
}

// eachFrom is Each over the data file's bytes as stored and its sidecar's
// (nil: none).
func (s *Snapshot) eachFrom(ctx context.Context, f FileEntry, file, sideRaw io.Reader, fn func(Line) error) error {
	// The manifest's MD5 catches a truncated or altered data file.
	raw := &md5Reader{r: file, md5: md5.New()}
	items, closer, err := newItemReader(s.Summary.OutputFormat, s.compression(f), raw)
	if err != nil {
		return fmt.Errorf("open %s: %w", s.Store.URL(f.Data), err)
	}
	defer closer.Close()
	var side *bufio.Reader
	if sideRaw != nil {
		sdec, err := decompressor(sideRaw, s.compression(f))
		if err != nil {
			return fmt.Errorf("open %s: %w", s.Store.URL(f.Sidecar), err)
		}
		defer sdec.Close()
		side = bufio.NewReaderSize(sdec, 256<<10)
	}
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		it, err := items.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s item %d: %w", s.Store.URL(f.Data), n+1, err)
		}
		n++
		line := Line{Item: it}
		if side != nil {
			sraw, err := nextLine(side)
			if err != nil {
				return fmt.Errorf("read %s line %d: %w", s.Store.URL(f.Sidecar), n, err)
			}
			if err := parseSidecarLine(sraw, &line.Source); err != nil {
				return fmt.Errorf("read %s line %d: %w", s.Store.URL(f.Sidecar), n, err)
			}
			// A version written after the snapshot's time cannot be in it:
			// the sidecar, or the summary's exportTime, was edited.
			if at := s.Summary.ExportTime; !at.IsZero() && line.Source.LastModified.After(at.Truncate(time.Second).Add(time.Second)) {
				return fmt.Errorf("%s line %d: version %s of %s is from %s, after the snapshot's time %s: the snapshot was edited or damaged",
					s.Store.URL(f.Sidecar), n, line.Source.VersionID, line.Source.Key, line.Source.LastModified.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
			}
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	if n != f.ItemCount {
		return fmt.Errorf("%s has %d items, its manifest says %d", s.Store.URL(f.Data), n, f.ItemCount)
	}
	if f.MD5Checksum != "" {
		if _, err := io.Copy(io.Discard, raw); err != nil {
			return fmt.Errorf("read %s: %w", s.Store.URL(f.Data), err)
		}
		if got := base64.StdEncoding.EncodeToString(raw.md5.Sum(nil)); got != f.MD5Checksum {
			return fmt.Errorf("%s is corrupt: its MD5 is %s, manifest-files.json says %s", s.Store.URL(f.Data), got, f.MD5Checksum)
		}
	}
	return nil
}

// compression is how f's data file and sidecar are compressed.
func (s *Snapshot) compression(f FileEntry) string {
	if c := s.Summary.Dynasnap.Compression; c != "" {
		return c
	}
	return compressionOf(f.Data) // an AWS export: the extension tells
}

// openSidecar opens f's sidecar for reading line by line; call closeFn
// when done.
func (s *Snapshot) openSidecar(ctx context.Context, f FileEntry) (r *bufio.Reader, closeFn func(), err error) {
	sraw, err := s.Store.Open(ctx, f.Sidecar)
	if err != nil {
		return nil, nil, err
	}
	sdec, err := decompressor(sraw, s.compression(f))
	if err != nil {
		sraw.Close()
		return nil, nil, fmt.Errorf("open %s: %w", s.Store.URL(f.Sidecar), err)
	}
	return bufio.NewReaderSize(sdec, 256<<10), func() { sdec.Close(); sraw.Close() }, nil
}

type md5Reader struct {
	r   io.Reader
	md5 hash.Hash
}

func (c *md5Reader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.md5.Write(p[:n])
	return n, err
}

// EachItem calls fn for every item of the snapshot, file by file.
func (s *Snapshot) EachItem(ctx context.Context, fn func(Line) error) error {
	for _, f := range s.Files {
		if err := s.Each(ctx, f, fn); err != nil {
			return err
		}
	}
	return nil
}
