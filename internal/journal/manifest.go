package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Manifest describes a level output or a base (docs/DESIGN.md §10.5). It
// is written last: an output without one does not exist for readers.
type Manifest struct {
	FormatVersion int    `json:"formatVersion"`
	Kind          string `json:"kind"` // "level" or "base"
	Level         int    `json:"level,omitempty"`
	// A level output holds the changes whose effective time is in
	// (From, To]; a base the state at To (From is absent).
	From *time.Time `json:"from,omitempty"`
	To   time.Time  `json:"to"`
	// ExactFrom is, for a base written by backfill, when its Scan ended:
	// states at or after it are exact (§10.6).
	ExactFrom *time.Time `json:"exactFrom,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	Tool      string     `json:"tool"`
	Records   int64      `json:"records"`
	Files     []Part     `json:"files"`

	// ExportDir is set on a base whose every part has its export files
	// (export.go): the table folder their sidecars name.
	ExportDir string `json:"exportDir,omitempty"`

	// PrecisionSeconds is, for a thinned output (retention.go), the
	// precision it keeps: the state at each multiple is exact.
	PrecisionSeconds int64 `json:"precisionSeconds,omitempty"`
}

// Part is one data file of an output: sorted by id, disjoint from the
// output's other parts, listed in id order.
type Part struct {
	Name    string `json:"name"` // relative to the output's folder
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"` // hex SHA-256 of the part as stored
	FirstID string `json:"firstId"`
	LastID  string `json:"lastId"`
	// Blocks is the part's key index (index.go), when it has more than one.
	Blocks []Block `json:"blocks,omitempty"`
	// Export is, for a base part, its items as a snapshot's files.
	Export *ExportPart `json:"export,omitempty"`
}

const (
	kindLevel = "level"
	kindBase  = "base"
)

func readManifest(ctx context.Context, b Bucket, key string) (*Manifest, error) {
	body, err := readAll(ctx, b, key)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("s3://%s/%s is not a journal manifest: %w", b.Name(), key, err)
	}
	if m.FormatVersion < 1 || m.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("s3://%s/%s has journal format %d; this dynasnap reads 1 to %d", b.Name(), key, m.FormatVersion, FormatVersion)
	}
	if m.Kind != kindLevel && m.Kind != kindBase {
		return nil, fmt.Errorf("s3://%s/%s: unknown kind %q", b.Name(), key, m.Kind)
	}
	for i, p := range m.Files {
		if p.Name == "" || p.FirstID > p.LastID || (i > 0 && m.Files[i-1].LastID >= p.FirstID) {
			return nil, fmt.Errorf("s3://%s/%s: file %d (%q) is out of order or has no name", b.Name(), key, i, p.Name)
		}
		if err := p.checkBlocks(); err != nil {
			return nil, fmt.Errorf("s3://%s/%s: %w", b.Name(), key, err)
		}
	}
	return &m, nil
}
