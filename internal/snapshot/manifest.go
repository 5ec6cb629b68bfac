// Package snapshot writes and reads consolidated snapshots in the layout of
// DynamoDB's Export to S3: manifest-summary.json (written last: its presence
// is what makes a snapshot finished), manifest-files.json (one JSON line per
// data file) and data/ files of {"Item":{...}} lines or Parquet, plus a
// sidecar per data file with the object key and version id of each item.
package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dynasnap/dynasnap/internal/exportfmt"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/store"
)

const (
	SummaryName = "manifest-summary.json"
	FilesName   = "manifest-files.json"
	DataDir     = "data"
	SidecarDir  = "sidecar"
	// DefinitionName is the table's definition as recorded at exportTime
	// (docs/DESIGN.md §5.10), absent when the backup holds none then.
	DefinitionName = "table-definition.json"
	// FormatVersion 2: data files cut by size, each sorted by object key
	// and none overlapping another; ranges bounded by hex prefixes and
	// shards as contiguous blocks of them (docs/DESIGN.md §4, §5).
	FormatVersion = 2
)

// The names of an export's other files: the base64 MD5 of each manifest
// (written before it, so a finished snapshot has both), and the empty file
// AWS writes when an export starts.
const (
	SummaryMD5Name = "manifest-summary.md5"
	FilesMD5Name   = "manifest-files.md5"
	StartedName    = "_started"
	// AWSDir is the folder AWS nests exports in: PREFIX/AWSDynamoDB/<exportId>/.
	AWSDir = "AWSDynamoDB"
)

// The summary's version: AWS writes 2020-06-30 for full exports and
// 2023-08-01 for incremental ones.
const (
	FullVersion        = "2020-06-30"
	IncrementalVersion = "2023-08-01"
	FullExport         = "FULL_EXPORT"
	IncrementalExport  = "INCREMENTAL_EXPORT"
)

// Summary is manifest-summary.json. The top-level fields are those of an
// AWS export's summary; what only dynasnap knows is under "dynasnap".
// It is written by MarshalJSON, in AWS's field order, times with
// milliseconds.
type Summary struct {
	Version string `json:"version"`
	// ExportARN is the export's ARN when the table's ARN is known
	// (TABLE_ARN/export/<exportId>), else the export id alone.
	ExportARN string    `json:"exportArn"`
	StartTime time.Time `json:"startTime"`
	EndTime   time.Time `json:"endTime"`
	TableARN  *string   `json:"tableArn"`
	TableID   *string   `json:"tableId"`
	// ExportFromTime and ExportToTime bound an incremental export's window
	// [from, to); zero for a full export.
	ExportFromTime     time.Time `json:"exportFromTime"`
	ExportToTime       time.Time `json:"exportToTime"`
	ExportTime         time.Time `json:"exportTime"` // zero for an incremental export
	S3Bucket           *string   `json:"s3Bucket"`
	S3Prefix           *string   `json:"s3Prefix"`
	S3SSEAlgorithm     *string   `json:"s3SseAlgorithm"` // AES256 or KMS
	S3SSEKMSKeyID      *string   `json:"s3SseKmsKeyId"`
	ManifestFilesS3Key string    `json:"manifestFilesS3Key"`
	BilledSizeBytes    int64     `json:"billedSizeBytes"`
	ItemCount          int64     `json:"itemCount"`
	OutputFormat       string    `json:"outputFormat"` // DYNAMODB_JSON or PARQUET (AWS: also ION)
	OutputView         string    `json:"outputView"`   // incremental: NEW_AND_OLD_IMAGES or NEW_IMAGE
	// ExportType is "" on a full export (AWS leaves it out) and
	// INCREMENTAL_EXPORT on an incremental one.
	ExportType string  `json:"exportType"`
	Dynasnap   Details `json:"dynasnap"`
}

// Incremental reports whether the summary is an incremental export's.
func (s *Summary) Incremental() bool { return s.ExportType == IncrementalExport }

// awsTime is how AWS writes a summary's times: UTC, milliseconds.
func awsTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// awsTimeAlways is awsTime for a field that is always written.
func awsTimeAlways(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// MarshalJSON writes the summary as AWS does: its fields in AWS's order,
// times in milliseconds, the incremental fields only on an incremental
// export, exportType only where AWS writes it, then dynasnap's own.
func (s Summary) MarshalJSON() ([]byte, error) {
	type wire struct {
		Version            string   `json:"version"`
		ExportARN          string   `json:"exportArn"`
		StartTime          string   `json:"startTime"`
		EndTime            string   `json:"endTime"`
		TableARN           *string  `json:"tableArn"`
		TableID            *string  `json:"tableId"`
		ExportFromTime     string   `json:"exportFromTime,omitempty"`
		ExportToTime       string   `json:"exportToTime,omitempty"`
		ExportTime         string   `json:"exportTime,omitempty"`
		S3Bucket           *string  `json:"s3Bucket"`
		S3Prefix           *string  `json:"s3Prefix"`
		S3SSEAlgorithm     *string  `json:"s3SseAlgorithm"`
		S3SSEKMSKeyID      *string  `json:"s3SseKmsKeyId"`
		ManifestFilesS3Key string   `json:"manifestFilesS3Key"`
		BilledSizeBytes    int64    `json:"billedSizeBytes"`
		ItemCount          int64    `json:"itemCount"`
		OutputFormat       string   `json:"outputFormat"`
		OutputView         string   `json:"outputView,omitempty"`
		ExportType         string   `json:"exportType,omitempty"`
		Dynasnap           *Details `json:"dynasnap,omitempty"`
	}
	w := wire{Version: s.Version, ExportARN: s.ExportARN, StartTime: awsTimeAlways(s.StartTime), EndTime: awsTimeAlways(s.EndTime),
		TableARN: s.TableARN, TableID: s.TableID, ExportFromTime: awsTime(s.ExportFromTime), ExportToTime: awsTime(s.ExportToTime),
		ExportTime: awsTime(s.ExportTime), S3Bucket: s.S3Bucket, S3Prefix: s.S3Prefix, S3SSEAlgorithm: s.S3SSEAlgorithm,
		S3SSEKMSKeyID: s.S3SSEKMSKeyID, ManifestFilesS3Key: s.ManifestFilesS3Key, BilledSizeBytes: s.BilledSizeBytes,
		ItemCount: s.ItemCount, OutputFormat: s.OutputFormat, OutputView: s.OutputView, ExportType: s.ExportType}
	if s.Dynasnap.FormatVersion != 0 || s.Dynasnap.Source != "" {
		w.Dynasnap = &s.Dynasnap
	}
	return json.Marshal(w)
}

// ExportID is the export id of a snapshot of source at at (with the
// filter's text, if any): the form of AWS's ids, the time in milliseconds
// (14 digits), a dash and 8 hex digits of a SHA-256 of what the snapshot
// holds. The same snapshot asked for twice, or by every shard of one run,
// gets the same id; two different snapshots never do.
func ExportID(at time.Time, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	h.Write([]byte(at.UTC().Format(time.RFC3339Nano)))
	return fmt.Sprintf("%014d-%x", at.UnixMilli(), h.Sum(nil)[:4])
}

// ExportARN is what exportArn holds: TABLE_ARN/export/ID when the table's
// ARN is known, else the export id alone (dynasnap makes no ARN up).
func ExportARN(tableARN, id string) string {
	if tableARN != "" {
		return tableARN + "/export/" + id
	}
	return id
}

// SSEAlgorithm is s3SseAlgorithm for an --sse value: AES256 or KMS, as
// AWS's enum names them. An S3 snapshot without --sse is encrypted by S3's
// default encryption (SSE-S3, AES256); a local one has none (nil).
func SSEAlgorithm(sse string, s3 bool) *string {
	var v string
	switch sse {
	case "aws:kms", "KMS":
		v = "KMS"
	case "AES256":
		v = "AES256"
	default:
		if !s3 {
			return nil
		}
		v = "AES256"
	}
	return &v
}

// exportFolder splits an output folder in AWS's layout,
// PREFIX/AWSDynamoDB/<exportId>: the export id and PREFIX. ok is false for
// another folder.
func exportFolder(folder string) (id, prefix string, ok bool) {
	folder = strings.TrimSuffix(filepath.ToSlash(folder), "/")
	dir, id := path.Split(folder)
	dir = strings.TrimSuffix(dir, "/")
	if id == "" || path.Base(dir) != AWSDir {
		return "", "", false
	}
	return id, strings.TrimSuffix(strings.TrimSuffix(dir, AWSDir), "/"), true
}

// storeFolder is the folder a store writes to: its S3 prefix, or its path.
func storeFolder(st store.Store) string {
	if s3, ok := st.(*store.S3); ok {
		_, p := s3.Location()
		return p
	}
	return st.URL("")
}

// DescribeOutput fills the summary's export id, exportArn, S3 location
// and encryption for output to out. In AWS's layout the id is the
// folder's name and s3Prefix the prefix above AWSDynamoDB/; otherwise the
// id is ExportID's and s3Prefix the folder.
func DescribeOutput(sum *Summary, out store.Store, id, tableARN, tableID, sse, kmsKey string) {
	if fid, _, ok := exportFolder(storeFolder(out)); ok {
		id = fid
	}
	sum.ExportARN = ExportARN(tableARN, id)
	if tableARN != "" {
		sum.TableARN = &tableARN
	}
	if tableID != "" {
		sum.TableID = &tableID
	}
	s3out, isS3 := out.(*store.S3)
	if isS3 {
		b, p := s3out.Location()
		if _, parent, ok := exportFolder(p); ok {
			p = parent
		}
		sum.S3Bucket = &b
		if p != "" {
			sum.S3Prefix = &p
		}
	}
	sum.S3SSEAlgorithm = SSEAlgorithm(sse, isS3)
	if kmsKey != "" && isS3 {
		sum.S3SSEKMSKeyID = &kmsKey
	}
}

// Details is dynasnap's own part of the summary.
type Details struct {
	FormatVersion  int    `json:"formatVersion"`
	Source         string `json:"source"`
	Table          string `json:"table"`
	Compression    string `json:"compression"` // gzip, zstd or none
	DataFiles      int    `json:"dataFiles"`
	VersionsListed int64  `json:"versionsListed"`
	// VersionsNewer counts the listed versions stamped after exportTime,
	// which the snapshot leaves out.
	VersionsNewer int64  `json:"versionsAfterExportTime"`
	Ranges        int    `json:"ranges"`
	SingleFile    bool   `json:"singleFile"`
	Base          string `json:"base,omitempty"`
	// CopiedFrom is the journal base whose export files the data files
	// are copies of (docs/DESIGN.md §10.6).
	CopiedFrom string `json:"copiedFrom,omitempty"`
	Tool       string `json:"tool"`
	// Filter is the --where expression the snapshot was taken with: a
	// filtered snapshot holds only part of the table.
	Filter string `json:"filter,omitempty"`
	// SkippedObjects are versions left out by --skip-bad-objects.
	SkippedObjects []history.BadObject `json:"skippedObjects,omitempty"`
	// TableDefinition says which version of the backup's definition object
	// table-definition.json holds (omitted when the snapshot has none).
	TableDefinition *DefinitionRef `json:"tableDefinition,omitempty"`
}

// DefinitionRef names the version of the definition object a snapshot
// copied.
type DefinitionRef struct {
	File         string    `json:"file"`
	Key          string    `json:"key"`
	VersionID    string    `json:"versionId"`
	LastModified time.Time `json:"lastModified"`
}

// FileEntry is one line of manifest-files.json.
type FileEntry struct {
	ItemCount   int64  `json:"itemCount"`
	MD5Checksum string `json:"md5Checksum"` // base64 MD5 of the data file
	// ETag is the data file's S3 ETag (S3's answer to the upload); for a
	// local file, the hex MD5 a single-part upload would get.
	ETag          string `json:"etag"`
	DataFileS3Key string `json:"dataFileS3Key"`
	// dynasnap's additions; AWS tools ignore unknown fields.
	SidecarS3Key string `json:"sidecarS3Key,omitempty"`
	SizeBytes    int64  `json:"sizeBytes,omitempty"`
	FirstKey     string `json:"firstObjectKey,omitempty"`
	LastKey      string `json:"lastObjectKey,omitempty"`
	// Data and Sidecar are the files' names relative to the snapshot folder.
	Data    string `json:"-"`
	Sidecar string `json:"-"`
}

// SidecarLine is one line of a sidecar: where the item on the same line of
// the data file came from.
type SidecarLine struct {
	Key          string    `json:"key"`
	VersionID    string    `json:"versionId"`
	LastModified time.Time `json:"lastModified"`
}

// appendSidecarLine writes l as one line of JSON, with the fields and time
// format encoding/json gives a SidecarLine and strings as item.AppendString
// escapes them (a sidecar has a line per item: the encoder's reflection
// cost as much as the rest of the line's path).
func appendSidecarLine(dst []byte, l SidecarLine) []byte {
	return exportfmt.AppendSidecar(dst, l.Key, l.VersionID, l.LastModified)
}

// parseSidecarLine reads one line. The lines this package writes, with
// plain strings, are read directly; anything else goes to encoding/json.
func parseSidecarLine(raw []byte, l *SidecarLine) error {
	rest, ok := bytes.CutPrefix(raw, []byte(`{"key":"`))
	var key, vid, at []byte
	if ok {
		key, rest, ok = plainUntil(rest, `","versionId":"`)
	}
	if ok {
		vid, rest, ok = plainUntil(rest, `","lastModified":"`)
	}
	if ok {
		at, rest, ok = plainUntil(rest, `"}`)
	}
	if ok && len(rest) == 0 && l.LastModified.UnmarshalText(at) == nil {
		l.Key, l.VersionID = string(key), string(vid)
		return nil
	}
	*l = SidecarLine{}
	return json.Unmarshal(raw, l)
}

// plainUntil splits b at sep if what comes before it is a JSON string's
// content that needs no decoding: no escapes, no control characters,
// valid UTF-8.
func plainUntil(b []byte, sep string) (before, after []byte, ok bool) {
	i := bytes.Index(b, []byte(sep))
	if i < 0 {
		return nil, nil, false
	}
	for _, c := range b[:i] {
		if c == '\\' || c == '"' || c < 0x20 {
			return nil, nil, false
		}
	}
	if !utf8.Valid(b[:i]) {
		return nil, nil, false
	}
	return b[:i], b[i+len(sep):], true
}

// ErrIncomplete means the folder has no manifest-summary.json.
var ErrIncomplete = errors.New("not a finished snapshot (no manifest-summary.json)")

// ReadSummary reads and checks manifest-summary.json, against
// manifest-summary.md5 when the folder has one.
func ReadSummary(ctx context.Context, st store.Store) (*Summary, error) {
	b, err := readChecked(ctx, st, SummaryName, SummaryMD5Name)
	if errors.Is(err, store.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", st.URL(""), ErrIncomplete)
	}
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read %s: %w", st.URL(SummaryName), err)
	}
	return &s, nil
}

// readChecked reads a manifest whole and checks it against its .md5 file
// (base64 MD5, as AWS writes it) when there is one.
func readChecked(ctx context.Context, st store.Store, name, md5Name string) ([]byte, error) {
	r, err := st.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", st.URL(name), err)
	}
	mr, err := st.Open(ctx, md5Name)
	if errors.Is(err, store.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	want, err := io.ReadAll(io.LimitReader(mr, 1<<10))
	mr.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", st.URL(md5Name), err)
	}
	h := md5New()
	h.Write(b)
	if got, w := b64(h.Sum(nil)), strings.TrimSpace(string(want)); got != w {
		return nil, fmt.Errorf("%s is corrupt: its MD5 is %s, %s says %s", st.URL(name), got, md5Name, w)
	}
	return b, nil
}

// ReadFiles reads manifest-files.json and resolves each file's name.
func ReadFiles(ctx context.Context, st store.Store) ([]FileEntry, error) {
	b, err := readChecked(ctx, st, FilesName, FilesMD5Name)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	r := bytes.NewReader(b)
	var out []FileEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var fe FileEntry
		if err := json.Unmarshal(line, &fe); err != nil {
			return nil, fmt.Errorf("read %s line %d: %w", st.URL(FilesName), len(out)+1, err)
		}
		fe.Data = relative(st, fe.DataFileS3Key)
		if fe.SidecarS3Key != "" {
			fe.Sidecar = relative(st, fe.SidecarS3Key)
		}
		out = append(out, fe)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", st.URL(FilesName), err)
	}
	return out, nil
}

// relative turns a manifest key (a full S3 key for S3 snapshots) into a name
// relative to the snapshot folder. A key of an export in AWS's layout
// (PREFIX/AWSDynamoDB/<id>/data/...) read from elsewhere, e.g. copied to a
// local folder, is taken from after AWSDynamoDB/<id>/.
func relative(st store.Store, key string) string {
	if base := st.Key(""); base != "" && len(key) > len(base) && key[:len(base)+1] == base+"/" {
		return key[len(base)+1:]
	}
	if i := strings.LastIndex("/"+key, "/"+AWSDir+"/"); i >= 0 {
		rest := key[i+len(AWSDir)+1:]
		if j := strings.Index(rest, "/"); j > 0 {
			return rest[j+1:]
		}
	}
	return key
}

func writeJSONLines[T any](w io.Writer, rows []T) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
