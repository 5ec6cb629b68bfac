// Package memsource is an in-memory backup bucket for unit tests: the
// history.Source a versioned S3 bucket is, with ListObjectVersions'
// ordering and paging rules, no server.
package memsource

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
)

// Bucket holds object versions. Safe for concurrent use.
type Bucket struct {
	Name string
	// RepeatLast, if set, starts every page after the first with the
	// last entry of the page before, as some servers do.
	RepeatLast bool

	mu       sync.Mutex
	keys     []string                  // sorted
	versions map[string][]*version     // per key, oldest first
	bodies   map[history.Marker][]byte // by key and version id
	seq      int
	requests atomic.Int64
	reads    atomic.Int64
}

type version struct {
	id       string
	modified time.Time
	deleted  bool
	size     int64
}

var _ history.Source = (*Bucket)(nil)

// New returns an empty bucket.
func New(name string) *Bucket {
	return &Bucket{Name: name, versions: map[string][]*version{}, bodies: map[history.Marker][]byte{}}
}

// Put adds a version of key with body, stamped at.
func (b *Bucket) Put(key string, body []byte, at time.Time) string {
	return b.add(key, body, at, false)
}

// Delete adds a delete marker to key, stamped at.
func (b *Bucket) Delete(key string, at time.Time) string {
	return b.add(key, nil, at, true)
}

func (b *Bucket) add(key string, body []byte, at time.Time, deleted bool) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	id := fmt.Sprintf("v%08d", b.seq)
	if _, ok := b.versions[key]; !ok {
		i := sort.SearchStrings(b.keys, key)
		b.keys = append(b.keys, "")
		copy(b.keys[i+1:], b.keys[i:])
		b.keys[i] = key
	}
	b.versions[key] = append(b.versions[key], &version{id: id, modified: at, deleted: deleted, size: int64(len(body))})
	if !deleted {
		b.bodies[history.Marker{Key: key, VersionID: id}] = bytes.Clone(body)
	}
	return id
}

// Versions counts the versions and delete markers stored.
func (b *Bucket) Versions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, vs := range b.versions {
		n += len(vs)
	}
	return n
}

// Requests counts List calls; Reads counts Read calls.
func (b *Bucket) Requests() int64 { return b.requests.Load() }
func (b *Bucket) Reads() int64    { return b.reads.Load() }

// Bucket names the bucket.
func (b *Bucket) Bucket() string { return b.Name }

// Read gets one version's body.
func (b *Bucket) Read(ctx context.Context, key, versionID string, buf *bytes.Buffer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.reads.Add(1)
	b.mu.Lock()
	body, ok := b.bodies[history.Marker{Key: key, VersionID: versionID}]
	b.mu.Unlock()
	if !ok {
		return fmt.Errorf("NoSuchVersion: %s version %s", key, versionID)
	}
	buf.Reset()
	buf.Write(body)
	return nil
}

// List follows ListObjectVersions: keys ascending in byte order, each
// key's versions newest first; after a KeyMarker alone, keys after it;
// with a VersionIdMarker, that key's versions after it, then later keys.
func (b *Bucket) List(ctx context.Context, prefix string, after history.Marker, max int32) (*history.Page, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.requests.Add(1)
	if max <= 0 || max > 1000 {
		max = 1000
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p := &history.Page{}
	start := sort.SearchStrings(b.keys, prefix)
	if after.Key > prefix {
		start = sort.SearchStrings(b.keys, after.Key)
	}
	var lastKey, lastID string
	for _, key := range b.keys[start:] {
		if len(key) < len(prefix) || key[:len(prefix)] != prefix {
			if key > prefix {
				break
			}
			continue
		}
		vs := b.versions[key]
		i := len(vs) - 1
		switch {
		case after.Key != "" && key < after.Key:
			continue
		case after.Key != "" && key == after.Key && after.VersionID == "":
			continue
		case after.Key != "" && key == after.Key:
			for i >= 0 && vs[i].id != after.VersionID {
				i--
			}
			if b.RepeatLast && i >= 0 && len(p.Entries) == 0 {
				p.Entries = append(p.Entries, entry(key, vs, i))
				lastKey, lastID = key, vs[i].id
			}
			i--
		}
		for ; i >= 0; i-- {
			if int32(len(p.Entries)) == max {
				p.IsTruncated = true
				p.NextKeyMarker, p.NextVersionIDMarker = lastKey, lastID
				return p, nil
			}
			p.Entries = append(p.Entries, entry(key, vs, i))
			lastKey, lastID = key, vs[i].id
		}
	}
	return p, nil
}

func entry(key string, vs []*version, i int) history.Entry {
	v := vs[i]
	return history.Entry{Key: key, VersionID: v.id, LastModified: v.modified, IsDelete: v.deleted, IsLatest: i == len(vs)-1, Size: v.size}
}
