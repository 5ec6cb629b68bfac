package history

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"
)

// MetaExpired is the metadata key of a tombstone (backup.MetaExpired: the
// writer's name for it, docs/DESIGN.md §2.4).
const MetaExpired = "dynasnap-expired"

// ResolveExpired sets Expired on the deletes TTL made. A journal's
// deletes say so themselves. A per-item delete marker is one when the
// version listed after it (written just before it) is a tombstone: read
// with one HEAD per marker, from a source that reads metadata (others, and
// a marker with no version behind it, stay plain deletes). The tombstone is
// marked too.
func ResolveExpired(ctx context.Context, src Source, ds []Delete) error {
	ms, ok := src.(MetaSource)
	if !ok {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range ds {
		d := &ds[i]
		// A journal's versions carry their Body, and its REMOVEs their ttl.
		if d.Expired || !d.HasBehind || d.Behind.IsDelete || d.Behind.Body != nil {
			continue
		}
		g.Go(func() error {
			meta, err := ms.Meta(gctx, d.Behind.Key, d.Behind.VersionID)
			if err != nil {
				return fmt.Errorf("read the metadata of s3://%s/%s version %s: %w", src.Bucket(), d.Behind.Key, d.Behind.VersionID, err)
			}
			for k := range meta {
				if strings.EqualFold(k, MetaExpired) {
					d.Expired, d.Behind.Tombstone = true, true
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// AnyExpired reports whether any of ds is a TTL delete (after
// ResolveExpired).
func AnyExpired(ds []Delete) bool {
	for _, d := range ds {
		if d.Expired {
			return true
		}
	}
	return false
}
