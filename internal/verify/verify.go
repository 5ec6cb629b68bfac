// Package verify compares a DynamoDB table with a snapshot: a parallel Scan
// of the table against the snapshot's items, matched by key and compared by
// meaning (set order and number form do not count). Run after a restore, it
// is the automated DR drill.
package verify

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/fastscan"
	"github.com/dynasnap/dynasnap/internal/idmap"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/itemcmp"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/snapshot"
)

// ScanAPI is the DynamoDB call verify makes; tests fake it.
type ScanAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Options configure a comparison.
type Options struct {
	Table    string
	Schema   keyschema.Schema // the table's key
	Segments int              // parallel Scan segments; default 8
	Readers  int              // snapshot data files read at once; default 4
	Examples int              // keys shown of each kind of difference; default 10
	// EventualRead scans with eventually consistent reads (half the cost);
	// right after a restore the last writes may then be missed.
	EventualRead bool
	// Expired, if set, tells snapshot items whose TTL time has passed: a
	// restore skips them, so their absence from the table is no difference
	// (counted in ExpiredAbsent).
	Expired func(item.Item) bool

	Read, Scanned *progress.Counter
}

// Report is the outcome.
type Report struct {
	Snapshot      string    `json:"snapshot"`
	ExportTime    time.Time `json:"exportTime"`
	Table         string    `json:"table"`
	SnapshotItems int64     `json:"snapshotItems"`
	TableItems    int64     `json:"tableItems"`
	Missing       int64     `json:"missing"`   // in the snapshot, not in the table
	Extra         int64     `json:"extra"`     // in the table, not in the snapshot
	Different     int64     `json:"different"` // in both, not equal
	// ExpiredAbsent: in the snapshot with their TTL time passed, not in
	// the table (a restore skips them unless --keep-expired).
	ExpiredAbsent int64    `json:"expiredAbsent"`
	MissingKeys   []string `json:"missingKeys"`
	ExtraKeys     []string `json:"extraKeys"`
	DifferentKeys []string `json:"differentKeys"`
	Seconds       float64  `json:"seconds"`
	// Definition compares the table's definition with the snapshot's
	// table-definition.json (nil: not compared).
	Definition *DefinitionReport `json:"definition,omitempty"`
}

// Equal reports whether the table matched the snapshot exactly.
func (r *Report) Equal() bool { return r.Missing == 0 && r.Extra == 0 && r.Different == 0 }

// entry is what is kept per snapshot item: 32+16+1 bytes and map overhead,
// so about 100 bytes an item; a 10-million-item table needs about 1 GB.
type entry struct {
	digest  [16]byte
	seen    bool
	expired bool
}

// keyAndDigest returns the id of the item's key and the digest of the
// item without its aws:rep:* attributes, which restore never writes.
func keyAndDigest(it item.Item, ks keyschema.Schema) (id [32]byte, digest [16]byte, ck []byte, err error) {
	ck, err = item.CanonicalKey(it, ks.Names()...)
	if err != nil {
		return id, digest, nil, err
	}
	id = sha256.Sum256(ck)
	d, err := itemcmp.Digest(item.WithoutReplication(it))
	if err != nil {
		return id, digest, nil, err
	}
	copy(digest[:], d[:])
	return id, digest, ck, nil
}

// Run compares the table with the snapshot.
func Run(ctx context.Context, s *snapshot.Snapshot, client ScanAPI, opts Options) (*Report, error) {
	start := time.Now()
	if f := s.Summary.OutputFormat; f != "" && f != "DYNAMODB_JSON" && f != "PARQUET" {
		return nil, fmt.Errorf("snapshot %s is %s; verify reads DYNAMODB_JSON and PARQUET snapshots", s.Store.URL(""), f)
	}
	if opts.Segments <= 0 {
		opts.Segments = 8
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if opts.Examples <= 0 {
		opts.Examples = 10
	}
	for _, c := range []**progress.Counter{&opts.Read, &opts.Scanned} {
		if *c == nil {
			*c = &progress.Counter{}
		}
	}
	rep := &Report{Snapshot: s.Store.URL(""), ExportTime: s.Summary.ExportTime, Table: opts.Table}
	x := idmap.New[*entry]()

	// 1. Index the snapshot.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Readers)
	for _, f := range s.Files {
		g.Go(func() error {
			return s.Each(gctx, f, func(l snapshot.Line) error {
				it, err := item.Unmarshal(l.Item)
				if err != nil {
					return fmt.Errorf("%s: %w", s.Store.URL(f.Data), err)
				}
				id, d, ck, err := keyAndDigest(it, opts.Schema)
				if err != nil {
					return fmt.Errorf("%s: item does not fit table %s's key %s: %w", s.Store.URL(f.Data), opts.Table, opts.Schema, err)
				}
				m := x.Lock(id)
				_, dup := m[id]
				m[id] = &entry{digest: d, expired: opts.Expired != nil && opts.Expired(it)}
				x.Unlock(id)
				if dup {
					return fmt.Errorf("the snapshot holds two items with key %s under table %s's key %s: is it a snapshot of this table?", ck, opts.Table, opts.Schema)
				}
				opts.Read.Add(1)
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	rep.SnapshotItems = opts.Read.Load()

	// 2. Scan the table in parallel segments and match.
	var mu sync.Mutex
	g, gctx = errgroup.WithContext(ctx)
	for seg := range opts.Segments {
		g.Go(func() error {
			in := &dynamodb.ScanInput{TableName: aws.String(opts.Table), Segment: aws.Int32(int32(seg)),
				TotalSegments: aws.Int32(int32(opts.Segments)), ConsistentRead: aws.Bool(!opts.EventualRead)}
			for {
				out, err := client.Scan(gctx, in, fastscan.Option)
				if err != nil {
					return fmt.Errorf("scan table %s segment %d: %w", opts.Table, seg, err)
				}
				for _, av := range out.Items {
					it := item.Item(av)
					id, d, ck, err := keyAndDigest(it, opts.Schema)
					if err != nil {
						return fmt.Errorf("scan table %s: %w", opts.Table, err)
					}
					opts.Scanned.Add(1)
					e := x.Lock(id)[id]
					kind := 0 // equal
					switch {
					case e == nil:
						kind = 1
					case e.seen:
						x.Unlock(id)
						return fmt.Errorf("scan table %s returned key %s twice", opts.Table, ck)
					case e.digest != d:
						kind = 2
					}
					if e != nil {
						e.seen = true
					}
					x.Unlock(id)
					if kind != 0 {
						mu.Lock()
						if kind == 1 {
							rep.Extra++
							rep.ExtraKeys = appendExample(rep.ExtraKeys, string(ck), opts.Examples)
						} else {
							rep.Different++
							rep.DifferentKeys = appendExample(rep.DifferentKeys, string(ck), opts.Examples)
						}
						mu.Unlock()
					}
				}
				if len(out.LastEvaluatedKey) == 0 {
					return nil
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
		})
	}
	if err := g.Wait(); err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("table %s does not exist", opts.Table)
		}
		return nil, err
	}
	rep.TableItems = opts.Scanned.Load()

	// 3. What was never seen is missing; a second pass over the snapshot
	// finds the keys to show, so the index need not keep them.
	for _, e := range x.All() {
		switch {
		case !e.seen && e.expired:
			rep.ExpiredAbsent++
		case !e.seen:
			rep.Missing++
		}
	}
	if rep.Missing > 0 {
		err := s.EachItem(ctx, func(l snapshot.Line) error {
			if len(rep.MissingKeys) >= opts.Examples {
				return errEnough
			}
			it, err := item.Unmarshal(l.Item)
			if err != nil {
				return err
			}
			id, _, ck, err := keyAndDigest(it, opts.Schema)
			if err != nil {
				return err
			}
			if e := x.Get(id); e != nil && !e.seen && !e.expired {
				rep.MissingKeys = append(rep.MissingKeys, string(ck))
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			return nil, err
		}
	}
	sort.Strings(rep.ExtraKeys)
	sort.Strings(rep.DifferentKeys)
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

var errEnough = errors.New("enough examples")

func appendExample(list []string, k string, limit int) []string {
	if len(list) < limit {
		return append(list, k)
	}
	// Keep the smallest keys, so the examples do not depend on scan timing.
	sort.Strings(list)
	if k < list[len(list)-1] {
		list[len(list)-1] = k
	}
	return list
}
