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
//
// The next page is requested while fn works through the current one: over
// a network each page costs a round trip, and a range whose listing waits
// for it leaves its share of the fetchers idle.
func (l *Lister) Walk(ctx context.Context, r Range, fn func(Entry) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan *Page, 1)
	errc := make(chan error, 1)
	go func() {
		defer close(pages)
		errc <- l.pages(ctx, r, pages)
	}()
	var prevPage map[versionKey]bool
	lastKey := ""
	for page := range pages {
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
		prevPage = thisPage
	}
	return <-errc
}

// pages lists r page by page into out, stopping after the page that
// reaches past r.Through (no page is fetched that Walk would not read).
func (l *Lister) pages(ctx context.Context, r Range, out chan<- *Page) error {
	keyMarker, versionMarker := r.After, ""
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
		select {
		case out <- page:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !page.IsTruncated {
			return nil
		}
		if n := len(page.Entries); r.Through != "" && n > 0 && page.Entries[n-1].Key > r.Through {
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
	}
}
