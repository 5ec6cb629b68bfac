package diff

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

// ExportOptions are what an incremental export records beyond the diff's.
type ExportOptions struct {
	Tool       string // recorded in the summary
	FilterText string
	// TableARN and TableID, when known, fill the summary as in a snapshot
	// (snapshot.Options).
	TableARN, TableID string
	SSE, SSEKMSKey    string
	FileSize          int64 // cut data files after this many bytes of JSON; 0: snapshot.DefaultFileSize
}

// ExportID is the export id of the incremental export of source over
// [from, to): the same window asked for twice gets the same id.
func ExportID(source string, from, to time.Time, filter string) string {
	return snapshot.ExportID(from, "incremental", to.UTC().Format(time.RFC3339Nano), source, filter)
}

// Export writes the changes of opts's window as an incremental export in
// AWS's layout into out (the export's own folder, normally
// DEST/AWSDynamoDB/<ExportID>): _started, gzip data files of change lines
// under data/, manifest-files.json and manifest-summary.json (exportType
// INCREMENTAL_EXPORT, exportFromTime, exportToTime, outputView), each with
// its .md5; the summary last (docs/DESIGN.md §5.10).
func Export(ctx context.Context, src history.Source, out store.Store, opts Options, eo ExportOptions) (_ *Stats, _ *snapshot.Summary, err error) {
	start := time.Now()
	// Claimed before anything is written; never a folder holding what
	// this export does not write (docs/DESIGN.md §5.9).
	id := ExportID(opts.Source.String(), opts.From, opts.To, eo.FilterText)
	claim, err := snapshot.ClaimOutput(ctx, out, snapshot.ExportSpec(snapshot.NewClaimRecord(eo.Tool, id, opts.Source.String())), nil)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			claim.Abandon(ctx)
		} else {
			claim.Release(ctx)
		}
	}()
	fw := &fileWriter{ctx: ctx, st: out, size: eo.FileSize}
	if fw.size <= 0 {
		fw.size = snapshot.DefaultFileSize
	}
	st, err := Run(ctx, src, fw, opts)
	if err == nil {
		err = fw.close()
	}
	if err != nil {
		fw.abort()
		return nil, nil, err
	}
	if opts.View == "" {
		opts.View = NewAndOldImages
	}
	sum := &snapshot.Summary{Version: snapshot.IncrementalVersion, StartTime: start.UTC(), EndTime: time.Now().UTC(),
		ExportFromTime: opts.From.UTC(), ExportToTime: opts.To.UTC(), ManifestFilesS3Key: out.Key(snapshot.FilesName),
		BilledSizeBytes: st.Bytes, ItemCount: st.Lines, OutputFormat: "DYNAMODB_JSON", OutputView: opts.View,
		ExportType: snapshot.IncrementalExport,
		Dynasnap: snapshot.Details{FormatVersion: snapshot.FormatVersion, Source: opts.Source.String(), Table: opts.Source.Table(),
			Compression: "gzip", DataFiles: len(fw.files), VersionsListed: st.Versions, Ranges: opts.Plan.Ranges, Tool: eo.Tool, Filter: eo.FilterText}}
	snapshot.DescribeOutput(sum, out, ExportID(opts.Source.String(), opts.From, opts.To, eo.FilterText), eo.TableARN, eo.TableID, eo.SSE, eo.SSEKMSKey)
	if err := snapshot.WriteManifests(ctx, out, fw.files, sum); err != nil {
		return nil, nil, err
	}
	return st, sum, nil
}

// fileWriter takes the diff's lines (one per Write) into gzip data files
// cut by size.
type fileWriter struct {
	ctx   context.Context
	st    store.Store
	size  int64
	files []snapshot.FileEntry

	name  string
	f     store.File
	md5   hash.Hash
	n     int64 // compressed bytes
	z     *gzip.Writer
	raw   int64
	lines int64
}

func (w *fileWriter) Write(line []byte) (int, error) {
	if w.f == nil {
		w.name = fmt.Sprintf("%s/part-%05d.json.gz", snapshot.DataDir, len(w.files))
		f, err := w.st.Create(w.ctx, w.name)
		if err != nil {
			return 0, err
		}
		w.f, w.md5, w.n, w.raw, w.lines = f, md5.New(), 0, 0, 0
		w.z = gzip.NewWriter(io.MultiWriter(f, w.md5, (*counter)(&w.n)))
	}
	n, err := w.z.Write(line)
	if err != nil {
		return n, fmt.Errorf("write %s: %w", w.st.URL(w.name), err)
	}
	w.raw += int64(n)
	w.lines++
	if w.raw >= w.size {
		return n, w.commit()
	}
	return n, nil
}

func (w *fileWriter) commit() error {
	f := w.f
	w.f = nil
	if err := w.z.Close(); err != nil {
		f.Abort()
		return err
	}
	if err := f.Commit(w.ctx); err != nil {
		return err
	}
	sum := w.md5.Sum(nil)
	e := snapshot.FileEntry{ItemCount: w.lines, MD5Checksum: base64.StdEncoding.EncodeToString(sum), ETag: store.ETag(f),
		DataFileS3Key: w.st.Key(w.name), SizeBytes: w.n, Data: w.name}
	if e.ETag == "" {
		e.ETag = hex.EncodeToString(sum)
	}
	w.files = append(w.files, e)
	return nil
}

func (w *fileWriter) close() error {
	if w.f == nil {
		return nil
	}
	return w.commit()
}

func (w *fileWriter) abort() {
	if w.f != nil {
		w.f.Abort()
		w.f = nil
	}
}

type counter int64

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }
