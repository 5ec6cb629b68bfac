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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

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

// Summary is manifest-summary.json. The top-level fields are those of an
// AWS export's summary; what only dynasnap knows is under "dynasnap".
type Summary struct {
	Version            string    `json:"version"`
	ExportARN          *string   `json:"exportArn"`
	StartTime          time.Time `json:"startTime"`
	EndTime            time.Time `json:"endTime"`
	TableARN           *string   `json:"tableArn"`
	TableID            *string   `json:"tableId"`
	ExportTime         time.Time `json:"exportTime"`
	S3Bucket           *string   `json:"s3Bucket"`
	S3Prefix           *string   `json:"s3Prefix"`
	S3SSEAlgorithm     *string   `json:"s3SseAlgorithm"`
	S3SSEKMSKeyID      *string   `json:"s3SseKmsKeyId"`
	ManifestFilesS3Key string    `json:"manifestFilesS3Key"`
	BilledSizeBytes    int64     `json:"billedSizeBytes"`
	ItemCount          int64     `json:"itemCount"`
	OutputFormat       string    `json:"outputFormat"` // DYNAMODB_JSON or PARQUET
	ExportType         string    `json:"exportType"`   // FULL_EXPORT
	Dynasnap           Details   `json:"dynasnap"`
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
	Tool          string `json:"tool"`
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
	ItemCount     int64  `json:"itemCount"`
	MD5Checksum   string `json:"md5Checksum"` // base64 MD5 of the data file
	ETag          string `json:"etag,omitempty"`
	DataFileS3Key string `json:"dataFileS3Key"`
	// dynasnap's additions; AWS tools ignore unknown fields.
	SidecarS3Key string `json:"sidecarS3Key"`
	SizeBytes    int64  `json:"sizeBytes"`
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

// ErrIncomplete means the folder has no manifest-summary.json.
var ErrIncomplete = errors.New("not a finished snapshot (no manifest-summary.json)")

// ReadSummary reads and checks manifest-summary.json.
func ReadSummary(ctx context.Context, st store.Store) (*Summary, error) {
	r, err := st.Open(ctx, SummaryName)
	if errors.Is(err, store.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", st.URL(""), ErrIncomplete)
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var s Summary
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return nil, fmt.Errorf("read %s: %w", st.URL(SummaryName), err)
	}
	return &s, nil
}

// ReadFiles reads manifest-files.json and resolves each file's name.
func ReadFiles(ctx context.Context, st store.Store) ([]FileEntry, error) {
	r, err := st.Open(ctx, FilesName)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer r.Close()
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
// relative to the snapshot folder.
func relative(st store.Store, key string) string {
	if base := st.Key(""); base != "" && len(key) > len(base) && key[:len(base)+1] == base+"/" {
		return key[len(base)+1:]
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
