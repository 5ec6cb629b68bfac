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

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/fastget"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/itemcmp"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/scan"
	"github.com/dynasnap/dynasnap/internal/versions"
)

// Options configure a diff.
type Options struct {
	S3       *s3.Client
	Source   layout.Location
	From, To time.Time
	// Schema names the key attributes for Keys; nil infers them from each
	// item and its object id.
	Schema *keyschema.Schema
	// Filter selects the changes listed (nil: all): those whose old or new
	// image matches, so an item that left the selection still shows.
	Filter          func(item.Item) (bool, error)
	Ranges          int   // default 16
	ListConcurrency int   // default 16
	Fetchers        int   // GetObject in flight, over all ranges; default 128
	MaxKeys         int32 // list page size
	Listed, Fetched *progress.Counter

	reader *fastget.Reader // set by Run
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

// Change is one key's change, before encoding.
type change struct {
	key      string
	old, new *scan.Entry
	when     time.Time
}

// Run writes the changes between opts.From and opts.To to w, one JSON line
// each, in object key order.
func Run(ctx context.Context, w io.Writer, opts Options) (*Stats, error) {
	if !opts.From.Before(opts.To) {
		return nil, fmt.Errorf("--from %s is not before --to %s", opts.From.UTC().Format(time.RFC3339), opts.To.UTC().Format(time.RFC3339))
	}
	opts.reader = fastget.NewReader(opts.S3)
	defer opts.reader.Close()
	if opts.Ranges <= 0 {
		opts.Ranges = 16
	}
	if opts.ListConcurrency <= 0 {
		opts.ListConcurrency = 16
	}
	if opts.Fetchers <= 0 {
		opts.Fetchers = 128
	}
	for _, c := range []**progress.Counter{&opts.Listed, &opts.Fetched} {
		if *c == nil {
			*c = &progress.Counter{}
		}
	}
	st := &Stats{}
	var keys, ins, mod, rem, rew, filtered atomic.Int64
	ranges := scan.Ranges(opts.Source.Dir(), opts.Ranges)
	// Each range's lines are buffered and written in range order, so the
	// output is sorted by object key whatever order ranges finish in.
	results := make([]chan []byte, len(ranges))
	for i := range results {
		results[i] = make(chan []byte, 1)
	}
	fetchSem := make(chan struct{}, opts.Fetchers)
	l := &scan.Lister{Client: opts.S3, Bucket: opts.Source.Bucket, Dir: opts.Source.Dir(), MaxKeys: opts.MaxKeys}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for i := range results {
			select {
			case buf := <-results[i]:
				if _, err := w.Write(buf); err != nil {
					return fmt.Errorf("write diff: %w", err)
				}
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	g.Go(func() error {
		rg, rctx := errgroup.WithContext(gctx)
		rg.SetLimit(opts.ListConcurrency)
		for _, r := range ranges {
			rg.Go(func() error {
				var changes []*change
				add, flush := groupBy(func(entries []scan.Entry) error {
					keys.Add(1)
					opts.Listed.Add(int64(len(entries)))
					oe, oldOK := versions.StateAt(entries, opts.From)
					ne, newOK := versions.StateAt(entries, opts.To)
					if !oldOK && !newOK || oldOK && newOK && oe.VersionID == ne.VersionID {
						return nil
					}
					c := &change{key: entries[0].Key, when: ne.LastModified}
					if oldOK {
						c.old = &oe
					}
					if newOK {
						c.new = &ne
					}
					changes = append(changes, c)
					return nil
				})
				if err := l.Walk(rctx, r, add); err != nil {
					return err
				}
				if err := flush(); err != nil {
					return err
				}
				lines := make([][]byte, len(changes))
				fg, fctx := errgroup.WithContext(rctx)
				for i, c := range changes {
					select {
					case fetchSem <- struct{}{}:
					case <-fctx.Done():
						return fg.Wait()
					}
					fg.Go(func() error {
						defer func() { <-fetchSem }()
						line, kind, err := encode(fctx, opts, c)
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
						lines[i] = line
						return nil
					})
				}
				if err := fg.Wait(); err != nil {
					return err
				}
				results[r.Index] <- bytes.Join(lines, nil)
				return nil
			})
		}
		return rg.Wait()
	})
	err := g.Wait()
	st.Keys, st.Inserted, st.Modified, st.Removed, st.Rewritten = keys.Load(), ins.Load(), mod.Load(), rem.Load(), rew.Load()
	st.Filtered = filtered.Load()
	return st, err
}

// groupBy turns a listing callback into a per-key one; call flush after
// the listing for the last key.
func groupBy(fn func([]scan.Entry) error) (add func(scan.Entry) error, flush func() error) {
	var group []scan.Entry
	flush = func() error {
		if len(group) == 0 {
			return nil
		}
		g := group
		group = nil
		return fn(g)
	}
	add = func(e scan.Entry) error {
		if len(group) > 0 && group[0].Key != e.Key {
			if err := flush(); err != nil {
				return err
			}
		}
		group = append(group, e)
		return nil
	}
	return add, flush
}

// kindFiltered is the kind of a change the filter leaves out (no line).
const kindFiltered = "filtered"

// encode fetches a change's images and writes its line; kind is "" when
// the key was rewritten with an equal image, kindFiltered when neither
// image matches the filter (no line either way).
func encode(ctx context.Context, opts Options, c *change) (line []byte, kind string, err error) {
	var oldIt, newIt item.Item
	if c.old != nil {
		if oldIt, err = versions.Fetch(ctx, opts.reader, opts.Source.Bucket, *c.old); err != nil {
			return nil, "", err
		}
		opts.Fetched.Add(1)
	}
	if c.new != nil {
		if newIt, err = versions.Fetch(ctx, opts.reader, opts.Source.Bucket, *c.new); err != nil {
			return nil, "", err
		}
		opts.Fetched.Add(1)
	}
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
			return nil, "", fmt.Errorf("s3://%s/%s: %w", opts.Source.Bucket, c.key, err)
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
			return nil, "", fmt.Errorf("s3://%s/%s: %w (pass --key-schema)", opts.Source.Bucket, c.key, err)
		}
		for _, a := range attrs {
			names = append(names, a.Name)
		}
	}
	keyJSON, err := item.CanonicalKey(img, names...)
	if err != nil {
		return nil, "", fmt.Errorf("s3://%s/%s: %w", opts.Source.Bucket, c.key, err)
	}
	if opts.Schema != nil && item.ObjectID(keyJSON) != path.Base(c.key) {
		return nil, "", fmt.Errorf("s3://%s/%s: key schema %s does not give this object's id", opts.Source.Bucket, c.key, opts.Schema)
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
