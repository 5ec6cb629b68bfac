package scan

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Stats counts listing work; safe for concurrent use.
type Stats struct {
	Versions atomic.Int64 // entries listed (versions and delete markers)
	Pages    atomic.Int64
	Repeats  atomic.Int64 // entries a server listed twice, dropped
}

// Lister lists the versions of one table folder.
type Lister struct {
	Client  *s3.Client
	Bucket  string
	Dir     string // the table's folder: prefix ending in "/"
	MaxKeys int32  // page size; 0 means the server's default (1000)
	Stats   *Stats
}

type versionKey struct{ key, id string }

// Walk calls fn for every entry in r, in the server's listing order: keys
// ascending, each key's versions newest first, versions and delete markers
// interleaved as listed. Entries repeated across a page boundary are
// dropped; a page that does not advance is an error, never a loop.
func (l *Lister) Walk(ctx context.Context, r Range, fn func(Entry) error) error {
	keyMarker, versionMarker := r.After, ""
	var prevPage map[versionKey]bool
	lastKey := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := ListPage(ctx, l.Client, l.Bucket, l.Dir, keyMarker, versionMarker, l.MaxKeys)
		if err != nil {
			return err
		}
		if l.Stats != nil {
			l.Stats.Pages.Add(1)
		}
		thisPage := make(map[versionKey]bool, len(page.Entries))
		for _, e := range page.Entries {
			vk := versionKey{e.Key, e.VersionID}
			if prevPage[vk] || thisPage[vk] {
				if l.Stats != nil {
					l.Stats.Repeats.Add(1)
				}
				continue
			}
			thisPage[vk] = true
			if e.Key < lastKey {
				return fmt.Errorf("list versions s3://%s/%s: server listed key %q after %q, out of order", l.Bucket, l.Dir, e.Key, lastKey)
			}
			if r.After != "" && e.Key <= r.After {
				continue
			}
			if r.Through != "" && e.Key > r.Through {
				return nil
			}
			lastKey = e.Key
			if l.Stats != nil {
				l.Stats.Versions.Add(1)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if !page.IsTruncated {
			return nil
		}
		if page.NextKeyMarker == "" {
			return fmt.Errorf("list versions s3://%s/%s: truncated page without a next key marker", l.Bucket, l.Dir)
		}
		if page.NextKeyMarker == keyMarker && page.NextVersionIDMarker == versionMarker {
			return fmt.Errorf("list versions s3://%s/%s: server returned no progress after key %q version %q; refusing to loop", l.Bucket, l.Dir, keyMarker, versionMarker)
		}
		if page.NextKeyMarker < keyMarker {
			return fmt.Errorf("list versions s3://%s/%s: next key marker %q goes backwards from %q", l.Bucket, l.Dir, page.NextKeyMarker, keyMarker)
		}
		keyMarker, versionMarker = page.NextKeyMarker, page.NextVersionIDMarker
		prevPage = thisPage
	}
}
