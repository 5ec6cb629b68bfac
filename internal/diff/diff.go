// Package diff lists the items that changed in a window [From, To), as
// JSON lines in the shape of DynamoDB's incremental export: Metadata
// (WriteTimestampMicros, a DynamoDB number), Keys, NewImage (absent for a
// deletion) and OldImage (absent for a creation; left out in the NEW_IMAGE
// view), and writes them as an incremental export (docs/DESIGN.md §3, §5.10).
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

	"github.com/dynasnap/dynasnap/internal/filter"
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
	Filter   func(item.Item) (bool, error)
	Plan     history.Plan
	Fetchers int // GetObject in flight; default 128
	// View is NEW_AND_OLD_IMAGES (the default) or NEW_IMAGE, which leaves
	// OldImage out.
	View            string
	Listed, Fetched *progress.Counter
}

// Stats is what a diff found.
type Stats struct {
	Keys     int64 // keys listed
	Inserted int64
	Modified int64
	Removed  int64 // REMOVE lines of deletes a caller made
	// Expired counts REMOVE lines of deletes TTL made, apart from Removed
	// (docs/DESIGN.md §2.4): their Metadata has "Expired":{"BOOL":true}.
	Expired int64
	// Rewritten counts keys written again with the same image: a new
	// version, no change, not output.
	Rewritten int64
	// Filtered counts changes the filter left out.
	Filtered int64
	// Lines and Bytes count the lines written and the DynamoDB size of
	// their images (item.Size of NewImage and OldImage).
	Lines, Bytes int64
	// Versions counts the entries listed.
	Versions int64
}

// The views of an incremental export.
const (
	NewAndOldImages = "NEW_AND_OLD_IMAGES"
	NewImage        = "NEW_IMAGE"
)

// Window returns the times the walk folds at for the window [from, to):
// the state just before from and just before to. LastModified has whole
// seconds, so with the fold's rule (LastModified <= T) these are the
// states at from - 1ns and to - 1ns: a version stamped from is in the
// window, one stamped to is not (docs/DESIGN.md §3).
func Window(from, to time.Time) []time.Time {
	return history.Window(from, to)
}

// Run writes the changes between opts.From and opts.To, read from src, to
// w, one JSON line each, in object key order.
func Run(ctx context.Context, src history.Source, w io.Writer, opts Options) (*Stats, error) {
	if !opts.From.Before(opts.To) {
		return nil, fmt.Errorf("--from %s is not before --to %s", opts.From.UTC().Format(time.RFC3339), opts.To.UTC().Format(time.RFC3339))
	}
	switch opts.View {
	case "":
		opts.View = NewAndOldImages
	case NewAndOldImages, NewImage:
	default:
		return nil, fmt.Errorf("view %q: want %s or %s", opts.View, NewAndOldImages, NewImage)
	}
	// The state just before To is the state at To - 1ns: the listing may
	// start once that second is over.
	times := Window(opts.From, opts.To)
	if err := history.Wait(ctx, times[1], opts.ClockSkew); err != nil {
		return nil, err
	}
	st := &Stats{}
	var ins, mod, rem, exp, rew, filtered, lines, size, versions atomic.Int64
	walk := &history.Walk[pick]{Source: src, Dir: opts.Source.Dir(), Plan: opts.Plan, Validate: true, Times: times,
		Fetchers: opts.Fetchers, Listed: opts.Listed, Fetched: opts.Fetched,
		Pick: func(k *history.Key) ([]history.Entry, pick, bool, error) {
			versions.Add(int64(k.Versions))
			oldOK, newOK := k.Exists[0], k.Exists[1]
			// Entries in the window: those stamped in [From, To).
			inWindow := k.Pos[0] - k.Pos[1]
			if inWindow == 0 {
				return nil, pick{}, false, nil
			}
			// More than one entry in the window: the key may have held
			// another state inside it (changed and changed back, created
			// and deleted), which a snapshot taken within the window's
			// first second holds; its line must set the state at To.
			p := pick{several: inWindow > 1}
			if ds := k.DeletesIn(k.Pos[1], k.Pos[1]+1); !k.Exists[1] && len(ds) == 1 {
				// Absent at the end by a delete: TTL's, or a caller's?
				p.del = &ds[0]
			}
			var read []history.Entry
			if oldOK {
				read = append(read, k.At[0])
			}
			if newOK {
				read = append(read, k.At[1])
			}
			if !oldOK && !newOK {
				// Absent at both ends: listed as a deletion (Keys only)
				// when it existed in between; the keys come from its
				// newest image.
				if !p.several || !k.HasImage {
					return nil, pick{}, false, nil
				}
				p.keysOnly = true
				read = append(read, k.Newest)
			}
			return read, p, true, nil
		},
		Keep: func(ctx context.Context, _ *history.Key, p pick, _ []history.Version) (bool, error) {
			if p.del == nil {
				return true, nil
			}
			ds := []history.Delete{*p.del}
			err := history.ResolveExpired(ctx, src, ds)
			*p.del = ds[0]
			return true, err
		},
		Emit: func(_ context.Context, k *history.Key, p pick, got []history.Version) error {
			c := change{key: k.ObjectKey, when: k.At[1].LastModified, several: p.several, expired: p.del != nil && p.del.Expired}
			switch {
			case p.keysOnly:
				c.keysFrom = got[0].Item
			default:
				if k.Exists[0] {
					c.old, got = got[0].Item, got[1:]
				}
				if k.Exists[1] {
					c.new = got[0].Item
				}
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
			case kindExpired:
				exp.Add(1)
			case kindFiltered:
				filtered.Add(1)
			default:
				rew.Add(1)
			}
			if line == nil {
				return nil
			}
			lines.Add(1)
			if c.new != nil {
				size.Add(item.Size(c.new))
			}
			if c.old != nil && opts.View == NewAndOldImages {
				size.Add(item.Size(c.old))
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
	st.Inserted, st.Modified, st.Removed, st.Expired, st.Rewritten = ins.Load(), mod.Load(), rem.Load(), exp.Load(), rew.Load()
	st.Filtered, st.Lines, st.Bytes, st.Versions = filtered.Load(), lines.Load(), size.Load(), versions.Load()
	return st, err
}

// pick is what Pick decided for a key.
type pick struct {
	// several: more than one entry in the window.
	several bool
	// keysOnly: absent at both ends; the version read gives the keys.
	keysOnly bool
	// del is the delete that ends the window, if one does; Keep finds
	// whether TTL made it.
	del *history.Delete
}

// change is one key's change, before encoding: its images at the two
// times (nil: absent) and the time of the newer state.
type change struct {
	key      string
	old, new item.Item
	when     time.Time
	// several: more than one entry in the window, so an equal image at
	// both ends is still listed.
	several bool
	// keysFrom, for a key absent at both ends, is the image its keys are
	// read from.
	keysFrom item.Item
	// expired: the delete that ends the window was TTL's.
	expired bool
}

// kindFiltered is the kind of a change the filter leaves out (no line);
// kindExpired a REMOVE made by TTL.
const (
	kindFiltered = "filtered"
	kindExpired  = "expired"
)

// encode fetches a change's images and writes its line; kind is "" when
// the key was rewritten with an equal image, kindFiltered when neither
// image matches the filter (no line either way).
func encode(bucket string, opts Options, c change) (line []byte, kind string, err error) {
	oldIt, newIt := c.old, c.new
	switch {
	case c.keysFrom != nil:
		kind = "REMOVE"
	case oldIt == nil:
		kind = "INSERT"
	case newIt == nil:
		kind = "REMOVE"
	default:
		a, _ := itemcmp.Canonical(oldIt)
		b, _ := itemcmp.Canonical(newIt)
		if bytes.Equal(a, b) && !c.several {
			return nil, "", nil
		}
		kind = "MODIFY"
	}
	if opts.Filter != nil {
		ok, err := filter.AnyMatches(opts.Filter, oldIt, newIt, c.keysFrom)
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
	if img == nil {
		img = c.keysFrom
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
	// As AWS writes it: a DynamoDB number, {"N":"..."}.
	b := append([]byte(`{"Metadata":{"WriteTimestampMicros":{"N":"`), strconv.FormatInt(c.when.UnixMicro(), 10)...)
	b = append(b, '"', '}')
	if c.expired {
		b = append(b, `,"Expired":{"BOOL":true}`...)
	}
	b = append(b, `},"Keys":`...)
	b = append(b, keyJSON...)
	if newIt != nil {
		b = append(b, `,"NewImage":`...)
		if b, err = item.AppendItem(b, newIt); err != nil {
			return nil, "", err
		}
	}
	if oldIt != nil && opts.View != NewImage {
		b = append(b, `,"OldImage":`...)
		if b, err = item.AppendItem(b, oldIt); err != nil {
			return nil, "", err
		}
	}
	if c.expired && kind == "REMOVE" {
		kind = kindExpired
	}
	return append(b, '}', '\n'), kind, nil
}
