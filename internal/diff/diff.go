// Package diff lists the items that changed between two points in time, as
// JSON lines in the shape of DynamoDB's incremental export: Keys, NewImage
// (absent for a deletion) and OldImage (absent for a creation), with
// Metadata.WriteTimestampMicros the time of the newer state.
package diff

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/itemcmp"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
)

// Options configure a diff.
type Options struct {
	Source   layout.Location
	From, To time.Time
	// ClockSkew: the listing waits until To's second is over by this much
	// (docs/DESIGN.md §3); 0 means history.DefaultClockSkew, negative none.
	ClockSkew time.Duration
	// Schema names the key attributes for Keys; nil infers them from each
	// item and its object id.
	Schema *keyschema.Schema
	// Filter selects the changes listed (nil: all): those whose old or new
	// image matches, so an item that left the selection still shows.
	Filter          func(item.Item) (bool, error)
	Plan            history.Plan
	Fetchers        int // GetObject in flight; default 128
	Listed, Fetched *progress.Counter
}

// Stats is what a diff found.
type Stats struct {
	Keys     int64 // keys listed
	Inserted int64
	Modified int64
	Removed  int64
	// Rewritten counts keys written again with the same image: a new
	// version, no change, not output.
	Rewritten int64
	// Filtered counts changes the filter left out.
	Filtered int64
}

// Run writes the changes between opts.From and opts.To, read from src, to
// w, one JSON line each, in object key order.
func Run(ctx context.Context, src history.Source, w io.Writer, opts Options) (*Stats, error) {
	if !opts.From.Before(opts.To) {
		return nil, fmt.Errorf("--from %s is not before --to %s", opts.From.UTC().Format(time.RFC3339), opts.To.UTC().Format(time.RFC3339))
	}
	skew := opts.ClockSkew
	if skew == 0 {
		skew = history.DefaultClockSkew
	}
	if err := history.Wait(ctx, opts.To, max(skew, 0)); err != nil {
		return nil, err
	}
	st := &Stats{}
	var ins, mod, rem, rew, filtered atomic.Int64
	walk := &history.Walk[struct{}]{Source: src, Dir: opts.Source.Dir(), Plan: opts.Plan, Times: []time.Time{opts.From, opts.To},
		Fetchers: opts.Fetchers, Listed: opts.Listed, Fetched: opts.Fetched,
		Pick: func(k *history.Key) ([]history.Entry, struct{}, bool, error) {
			oldOK, newOK := k.Exists[0], k.Exists[1]
			if !oldOK && !newOK || oldOK && newOK && k.At[0].VersionID == k.At[1].VersionID {
				return nil, struct{}{}, false, nil
			}
			var read []history.Entry
			if oldOK {
				read = append(read, k.At[0])
			}
			if newOK {
				read = append(read, k.At[1])
			}
			return read, struct{}{}, true, nil
		},
		Emit: func(_ context.Context, k *history.Key, _ struct{}, got []history.Version) error {
			c := change{key: k.ObjectKey, when: k.At[1].LastModified}
			if k.Exists[0] {
				c.old, got = got[0].Item, got[1:]
			}
			if k.Exists[1] {
				c.new = got[0].Item
			}
			line, kind, err := encode(src.Bucket(), opts, c)
			if err != nil {
				return err
			}
			switch kind {
			case "INSERT":
				ins.Add(1)
			case "MODIFY":
				mod.Add(1)
			case "REMOVE":
				rem.Add(1)
			case kindFiltered:
				filtered.Add(1)
			default:
				rew.Add(1)
			}
			if _, err := w.Write(line); err != nil {
				return fmt.Errorf("write diff: %w", err)
			}
			return nil
		}}
	res, err := walk.Run(ctx)
	if res != nil {
		st.Keys = res.Keys
	}
	st.Inserted, st.Modified, st.Removed, st.Rewritten = ins.Load(), mod.Load(), rem.Load(), rew.Load()
	st.Filtered = filtered.Load()
	return st, err
}

// change is one key's change, before encoding: its images at the two
// times (nil: absent) and the time of the newer state.
type change struct {
	key      string
	old, new item.Item
	when     time.Time
}

// kindFiltered is the kind of a change the filter leaves out (no line).
const kindFiltered = "filtered"

// encode fetches a change's images and writes its line; kind is "" when
// the key was rewritten with an equal image, kindFiltered when neither
// image matches the filter (no line either way).
func encode(bucket string, opts Options, c change) (line []byte, kind string, err error) {
	oldIt, newIt := c.old, c.new
	switch {
	case oldIt == nil:
		kind = "INSERT"
	case newIt == nil:
		kind = "REMOVE"
	default:
		a, _ := itemcmp.Canonical(oldIt)
		b, _ := itemcmp.Canonical(newIt)
		if bytes.Equal(a, b) {
			return nil, "", nil
		}
		kind = "MODIFY"
	}
	if opts.Filter != nil {
		ok, err := matchAny(opts.Filter, oldIt, newIt)
		if err != nil {
			return nil, "", fmt.Errorf("s3://%s/%s: %w", bucket, c.key, err)
		}
		if !ok {
			return nil, kindFiltered, nil
		}
	}
	img := newIt
	if img == nil {
		img = oldIt
	}
	var names []string
	if opts.Schema != nil {
		names = opts.Schema.Names()
	} else {
		attrs, _, err := keyschema.Infer(img, c.key)
		if err != nil {
			return nil, "", fmt.Errorf("s3://%s/%s: %w (pass --key-schema)", bucket, c.key, err)
		}
		for _, a := range attrs {
			names = append(names, a.Name)
		}
	}
	keyJSON, err := item.CanonicalKey(img, names...)
	if err != nil {
		return nil, "", fmt.Errorf("s3://%s/%s: %w", bucket, c.key, err)
	}
	if opts.Schema != nil && item.ObjectID(keyJSON) != path.Base(c.key) {
		return nil, "", fmt.Errorf("s3://%s/%s: key schema %s does not give this object's id", bucket, c.key, opts.Schema)
	}
	b := append([]byte(`{"Metadata":{"WriteTimestampMicros":`), strconv.FormatInt(c.when.UnixMicro(), 10)...)
	b = append(b, `},"Keys":`...)
	b = append(b, keyJSON...)
	if newIt != nil {
		b = append(b, `,"NewImage":`...)
		if b, err = item.AppendItem(b, newIt); err != nil {
			return nil, "", err
		}
	}
	if oldIt != nil {
		b = append(b, `,"OldImage":`...)
		if b, err = item.AppendItem(b, oldIt); err != nil {
			return nil, "", err
		}
	}
	return append(b, '}', '\n'), kind, nil
}

// matchAny reports whether any of the images present matches.
func matchAny(match func(item.Item) (bool, error), images ...item.Item) (bool, error) {
	for _, it := range images {
		if it == nil {
			continue
		}
		if ok, err := match(it); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}
