// Package versions reads the history an S3 versioned backup keeps of each
// item: all versions of one key, every key's versions grouped in listing
// order, and the state of a key at a point in time (docs/DESIGN.md §3).
// restore, history and diff share it so they fold exactly as snapshot does.
package versions

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/fastget"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/scan"
)

// StateAt returns the entry that holds a key's state at t: the first entry
// in listing order (newest first) with LastModified <= t. ok is false when
// the item did not exist at t (no such entry, or it is a delete marker).
// Listing order, never the timestamp, breaks same-second ties.
func StateAt(entries []scan.Entry, t time.Time) (e scan.Entry, ok bool) {
	for _, e := range entries {
		if !e.LastModified.After(t) {
			return e, !e.IsDelete
		}
	}
	return scan.Entry{}, false
}

// ChangedAfter reports whether any entry of the key is newer than t.
func ChangedAfter(entries []scan.Entry, t time.Time) bool {
	// Entries come newest first, but a server's clock can step; look at all.
	for _, e := range entries {
		if e.LastModified.After(t) {
			return true
		}
	}
	return false
}

// LatestImage returns the newest entry that is not a delete marker, to read
// an item's key from when only deletions follow it.
func LatestImage(entries []scan.Entry) (scan.Entry, bool) {
	for _, e := range entries {
		if !e.IsDelete {
			return e, true
		}
	}
	return scan.Entry{}, false
}

// Key lists every version and delete marker of one object key, newest
// first, in the server's order. It pages with the key as the prefix and
// skips longer keys that share it.
func Key(ctx context.Context, client *s3.Client, bucket, key string) ([]scan.Entry, error) {
	var out []scan.Entry
	seen := map[string]bool{}
	keyMarker, versionMarker := "", ""
	for {
		page, err := scan.ListPage(ctx, client, bucket, key, keyMarker, versionMarker, 0)
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
		if page.NextKeyMarker == keyMarker && page.NextVersionIDMarker == versionMarker {
			return nil, fmt.Errorf("list versions of s3://%s/%s: server returned no progress; refusing to loop", bucket, key)
		}
		if page.NextKeyMarker > key {
			return out, nil // the rest are longer keys
		}
		keyMarker, versionMarker = page.NextKeyMarker, page.NextVersionIDMarker
	}
}

// Walk lists the ranges of a table folder, concurrency at a time, and calls
// fn once per key with all its entries, newest first. fn is called from
// several goroutines (one per range being listed) and must be safe for that;
// within one range, keys come in ascending order.
func Walk(ctx context.Context, l *scan.Lister, ranges []scan.Range, concurrency int, fn func(r scan.Range, key string, entries []scan.Entry) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	for _, r := range ranges {
		g.Go(func() error {
			var group []scan.Entry
			flush := func() error {
				if len(group) == 0 {
					return nil
				}
				err := fn(r, group[0].Key, group)
				group = nil // fn may keep the slice
				return err
			}
			err := l.Walk(ctx, r, func(e scan.Entry) error {
				if len(group) > 0 && group[0].Key != e.Key {
					if err := flush(); err != nil {
						return err
					}
				}
				group = append(group, e)
				return nil
			})
			if err != nil {
				return err
			}
			return flush()
		})
	}
	return g.Wait()
}

// Fetch gets one version and decodes it as a DynamoDB item; an object that
// is not one is an error naming it.
func Fetch(ctx context.Context, r *fastget.Reader, bucket string, e scan.Entry) (item.Item, error) {
	if e.IsDelete {
		return nil, fmt.Errorf("s3://%s/%s version %s is a delete marker, not an item", bucket, e.Key, e.VersionID)
	}
	var buf bytes.Buffer
	if err := r.Read(ctx, bucket, e.Key, e.VersionID, &buf); err != nil {
		return nil, fmt.Errorf("get s3://%s/%s version %s: %w", bucket, e.Key, e.VersionID, err)
	}
	it, err := item.Unmarshal(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("corrupt object s3://%s/%s version %s (%s): %w", bucket, e.Key, e.VersionID, e.LastModified.UTC().Format(time.RFC3339), err)
	}
	return it, nil
}

// ObjectKeyOf returns the object key that holds the item with the given key
// (a DynamoDB JSON object of the key attributes only) under a table folder.
func ObjectKeyOf(src layout.Location, keyJSON []byte) (string, item.Item, error) {
	k, err := item.Unmarshal(keyJSON)
	if err != nil {
		return "", nil, fmt.Errorf("--key: %w", err)
	}
	ck, err := item.CanonicalKey(k)
	if err != nil {
		return "", nil, fmt.Errorf("--key: %w", err)
	}
	return src.ObjectKey(item.ObjectID(ck)), k, nil
}

// ParseTime reads a point in time: RFC 3339, or a duration ago (-2h or 2h).
func ParseTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d > 0 {
			d = -d
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-26T09:30:00Z) nor a duration ago (-2h)", s)
	}
	return t, nil
}
