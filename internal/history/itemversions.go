package history

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/itemcmp"
)

// Event names, as DynamoDB Streams names them.
const (
	Insert = "INSERT"
	Modify = "MODIFY"
	Remove = "REMOVE"
)

// Change is one version of an item, compared with the one before it: the
// audit log of `dynasnap history`.
type Change struct {
	Time      time.Time `json:"time"`
	VersionID string    `json:"versionId"`
	Event     string    `json:"event"`
	Latest    bool      `json:"latest"`
	// Expired: a REMOVE made by TTL (docs/DESIGN.md §2.4).
	Expired bool            `json:"expired,omitempty"`
	Added   []string        `json:"added,omitempty"`
	Removed []string        `json:"removed,omitempty"`
	Changed []string        `json:"changed,omitempty"`
	Image   json.RawMessage `json:"image,omitempty"` // the item after the change; absent for REMOVE

	item item.Item
}

// Item returns the decoded image (nil for a REMOVE).
func (v *Change) Item() item.Item { return v.item }

// KeyVersions lists every version and delete marker of one object key,
// newest first, in the server's order. It pages with the key as the
// prefix and passes over longer keys that share it.
func KeyVersions(ctx context.Context, src Source, key string) ([]Entry, error) {
	return KeyVersionsAt(ctx, src, key, nil)
}

// KeyVersionsAt is KeyVersions for a fold at times only: a journal reads
// the base and the files that cover them (the state at a time needs no
// later change); a folder of versions lists them all.
func KeyVersionsAt(ctx context.Context, src Source, key string, times []time.Time) ([]Entry, error) {
	var out []Entry
	i := strings.LastIndexByte(key, '/')
	dir, id := key[:i+1], key[i+1:]
	if m, isMerger := src.(Merger); isMerger && isObjectID(id) {
		ok, err := m.Merge(ctx, dir, id, id+"\x00", times, nil, func(e Entry) error {
			if e.Key == key {
				out = append(out, e)
			}
			return nil
		})
		if err != nil || ok {
			return out, err
		}
	}
	seen := map[string]bool{}
	cur := Marker{}
	for {
		page, err := src.List(ctx, key, cur, 0)
		if err != nil {
			return nil, err
		}
		for _, e := range page.Entries {
			if e.Key != key || seen[e.VersionID] {
				continue
			}
			seen[e.VersionID] = true
			out = append(out, e)
		}
		if !page.IsTruncated {
			return out, nil
		}
		next, err := nextMarker(page, cur, src.Bucket(), key)
		if err != nil {
			return nil, err
		}
		if next.Key > key {
			return out, nil // the rest are longer keys
		}
		cur = next
	}
}

// ItemChanges returns every version of the object, newest first, each
// compared with the one before it. Bodies are read concurrently. A REMOVE
// made by TTL is marked Expired, and its tombstone left out.
func ItemChanges(ctx context.Context, src Source, objectKey string) ([]Change, error) {
	entries, err := KeyVersions(ctx, src, objectKey)
	if err != nil {
		return nil, err
	}
	if entries, err = markExpired(ctx, src, entries); err != nil {
		return nil, err
	}
	out := make([]Change, len(entries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, e := range entries {
		out[i] = Change{Time: e.LastModified.UTC(), VersionID: e.VersionID, Latest: e.IsLatest}
		if e.IsDelete {
			out[i].Event, out[i].Expired = Remove, e.Expired
			continue
		}
		g.Go(func() error {
			var buf bytes.Buffer
			it, err := ReadItem(gctx, src, e, &buf)
			if err != nil {
				return err
			}
			b, err := item.Marshal(it)
			if err != nil {
				return fmt.Errorf("encode %s: %w", e.Key, err)
			}
			out[i].item, out[i].Image = it, b
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	Compare(out)
	return out, nil
}

// markExpired resolves which of one key's deletes TTL made (entries in
// listing order) and drops their tombstones.
func markExpired(ctx context.Context, src Source, entries []Entry) ([]Entry, error) {
	k := Fold(entries, nil)
	if k == nil || len(k.Deletes) == 0 {
		return entries, nil
	}
	if err := ResolveExpired(ctx, src, k.Deletes); err != nil {
		return nil, err
	}
	drop := map[int]bool{}
	for _, d := range k.Deletes {
		entries[d.Pos].Expired = d.Expired
		if d.Behind.Tombstone {
			drop[d.Pos+1] = true
		}
	}
	out := entries[:0:0]
	for i, e := range entries {
		if !drop[i] {
			out = append(out, e)
		}
	}
	return out, nil
}

// Compare fills each change's event and changed attributes from the
// version listed after it (the one before it in time).
func Compare(vs []Change) {
	for i := range vs {
		v := &vs[i]
		if v.Event == Remove {
			continue
		}
		var prev item.Item
		if i+1 < len(vs) {
			prev = vs[i+1].item
		}
		if prev == nil {
			v.Event = Insert
			for name := range v.item {
				v.Added = append(v.Added, name)
			}
			sort.Strings(v.Added)
			continue
		}
		v.Event = Modify
		v.Added, v.Removed, v.Changed = itemcmp.Changes(prev, v.item)
	}
}

// isObjectID reports whether name is an item's object id (64 lowercase
// hex digits, docs/DESIGN.md §2.1): only items are in a journal; other
// objects (the table definition) are versions of their own.
func isObjectID(name string) bool {
	if len(name) != 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
