// Package exportfmt spells the lines of a snapshot's JSON-lines data files
// and sidecars (docs/DESIGN.md §5). A snapshot writes them item by item;
// a compaction writes a journal's base in them too, so that a snapshot at
// the base's time copies the base's files instead of writing its own
// (§10.6): both must spell every line alike, byte for byte.
package exportfmt

import (
	"fmt"
	"time"

	"github.com/dynasnap/dynasnap/internal/item"
)

// AppendItem appends an item's line of a data file: {"Item":body}, body
// being the item's canonical DynamoDB JSON.
func AppendItem(dst, body []byte) []byte {
	return append(append(append(dst, `{"Item":`...), body...), '}', '\n')
}

// AppendSidecar appends the sidecar line of an item: the object it came
// from, that object's version, and the version's time.
func AppendSidecar(dst []byte, key, versionID string, lastModified time.Time) []byte {
	dst = item.AppendString(append(dst, `{"key":`...), key)
	dst = item.AppendString(append(dst, `,"versionId":`...), versionID)
	dst = lastModified.AppendFormat(append(dst, `,"lastModified":"`...), time.RFC3339Nano)
	return append(dst, "\"}\n"...)
}

// WithoutReplication is an item's canonical JSON as a snapshot writes it
// by default: without the aws:rep:* attributes a legacy global table adds
// (§5), with its size by DynamoDB's rules (size is body's, kept when
// nothing is removed).
func WithoutReplication(body []byte, size int64) ([]byte, int64, error) {
	if !item.MayHaveReplication(body) {
		return body, size, nil
	}
	clean, changed, err := item.WithoutReplicationJSON(body)
	if err != nil || !changed {
		return body, size, err
	}
	it, err := item.Unmarshal(clean)
	if err != nil {
		return nil, 0, fmt.Errorf("without aws:rep:* attributes: %w", err)
	}
	return clean, item.Size(it), nil
}
