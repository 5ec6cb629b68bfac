// Package history reads the history a versioned backup bucket keeps of a
// table: one object per item, one version per change (docs/DESIGN.md §2).
// Everything that reads the backup goes through it: snapshot, the Parquet
// schema sample, restore --source, diff, history, drill and audit.
//
// At its centre is Source, the backend: list one prefix's versions and
// delete markers in the server's order, read one version's body. On it sit
// one fold rule (Fold, §3), one time rule (Resolve, §3), the key ranges
// (§4) and one walk (Walk): the state at T over a set of ranges, with a
// filter and a shard, read in key order.
package history

import (
	"bytes"
	"context"
	"io"
	"time"
)

// Entry is one version or delete marker, as listed.
type Entry struct {
	Key          string
	VersionID    string
	LastModified time.Time
	IsDelete     bool
	IsLatest     bool
	Size         int64
	// ETag is the version's ETag as listed, without its quotes: the MD5
	// of the body for a single-part PUT without SSE-KMS, which lets audit
	// compare an item without reading it; "" when not listed.
	ETag string
	// Body is the version's item as canonical JSON when the listing
	// carries it (a journal's entries, docs/DESIGN.md §10): no Read needed.
	Body []byte
	// Expired: a delete made by TTL. A journal's REMOVE says so itself
	// (its record's ttl); a delete marker of the per-item layout cannot,
	// and is known as one only once ResolveExpired has read the tombstone
	// behind it (docs/DESIGN.md §2.4).
	Expired bool
	// Tombstone: a version that is the copy of the last image written
	// before a TTL delete's marker (set by ResolveExpired).
	Tombstone bool
}

// Page is one listing response with versions and delete markers in
// document order: a put and a delete made in the same second are told
// apart only by that order.
type Page struct {
	Entries             []Entry
	IsTruncated         bool
	NextKeyMarker       string
	NextVersionIDMarker string
}

// Marker is where a listing resumes: after this key and version.
type Marker struct{ Key, VersionID string }

// Source is a backup bucket. Implementations: s3source (S3 and S3-compatible
// servers) and, for tests, memsource.
type Source interface {
	// List returns one page of the versions whose keys start with prefix,
	// after the marker (zero: from the start), at most max entries (0: the
	// server's default), in the server's order: keys ascending, each key's
	// versions newest first.
	List(ctx context.Context, prefix string, after Marker, max int32) (*Page, error)
	// Read puts the body of one version into buf.
	Read(ctx context.Context, key, versionID string, buf *bytes.Buffer) error
	// Bucket names the bucket, for messages.
	Bucket() string
}

// MetaSource is a Source that reads a version's user metadata (S3:
// HeadObject), which tells a tombstone (docs/DESIGN.md §2.4).
type MetaSource interface {
	Meta(ctx context.Context, key, versionID string) (map[string]string, error)
}

// UpToNow, among the times given to Merge, asks for every change stored
// (without waiting for a lag), after the state at the other times.
var UpToNow = time.Unix(1<<40, 0).UTC()

// Merger is a Source that may hold a table folder as a change journal
// (docs/DESIGN.md §10) instead of versions. Merge calls fn with the entries
// of the object ids in [lo, hi) ("" is open) under dir, in listing order
// (keys ascending, each key's newest first), each with its Body, for a read
// at times (none: every change stored). ok is false, with nothing called,
// when dir holds no journal: the caller lists versions instead.
type Merger interface {
	Merge(ctx context.Context, dir, lo, hi string, times []time.Time, stats *Stats, fn func(Entry) error) (ok bool, err error)
}

// ReadySource is a Source that may hold the snapshot at a time ready-made
// (docs/DESIGN.md §10.6): a change journal's base at exactly that time,
// stored also as a snapshot's data files and sidecars.
type ReadySource interface {
	// ReadyFiles returns dir's state at t as those files, in key order;
	// nil when there are none, and the caller reads the state.
	ReadyFiles(ctx context.Context, dir string, t time.Time) (*Ready, error)
	// OpenReady reads one of the files.
	OpenReady(ctx context.Context, key string) (io.ReadCloser, error)
}

// Ready is a state stored as a snapshot's files.
type Ready struct {
	From  string // where they are, for messages and the summary (s3://…/)
	Files []ReadyFile
	Reads int64 // the requests finding them took
}

// ReadyFile is one data file as a snapshot writes it, with its sidecar:
// object keys, sizes and digests (MD5 of the data file, SHA-256 of the
// sidecar), and the object keys of its first and last item.
type ReadyFile struct {
	Data, Sidecar           string
	DataBytes, SidecarBytes int64
	DataMD5, SidecarSHA256  []byte
	Items, BilledBytes      int64
	FirstKey, LastKey       string
}
