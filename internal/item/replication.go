package item

import (
	"bytes"
	"strings"
)

// ReplicationPrefix starts the names of the attributes DynamoDB's legacy
// global tables (version 2017.11.29) add to every item: aws:rep:updateregion,
// aws:rep:updatetime and aws:rep:deleting. They belong to the replication of
// the source table; written back into another table they make its own
// replication misbehave, so restore never writes them and a snapshot keeps
// them only when asked (docs/DESIGN.md §7).
const ReplicationPrefix = "aws:rep:"

var replicationQuoted = []byte(`"` + ReplicationPrefix)

// IsReplicationAttribute reports whether name is one of a legacy global
// table's aws:rep:* attributes.
func IsReplicationAttribute(name string) bool { return strings.HasPrefix(name, ReplicationPrefix) }

// WithoutReplication returns it without its top-level aws:rep:*
// attributes: it itself when it has none, else a copy (it may be shared).
func WithoutReplication(it Item) Item {
	n := 0
	for k := range it {
		if IsReplicationAttribute(k) {
			n++
		}
	}
	if n == 0 {
		return it
	}
	out := make(Item, len(it)-n)
	for k, v := range it {
		if !IsReplicationAttribute(k) {
			out[k] = v
		}
	}
	return out
}

// MayHaveReplication is a fast check of an item's DynamoDB JSON: false
// means it holds no aws:rep:* attribute; true means it may (the text can
// also be inside a value), and the item must be decoded to know.
func MayHaveReplication(data []byte) bool { return bytes.Contains(data, replicationQuoted) }

// WithoutReplicationJSON is data (an item as DynamoDB JSON) without its
// aws:rep:* attributes, canonical again, and whether any was removed; data
// itself when none was.
func WithoutReplicationJSON(data []byte) ([]byte, bool, error) {
	if !MayHaveReplication(data) {
		return data, false, nil
	}
	it, err := Unmarshal(data)
	if err != nil {
		return nil, false, err
	}
	out := WithoutReplication(it)
	if len(out) == len(it) {
		return data, false, nil
	}
	b, err := Marshal(out)
	return b, true, err
}
