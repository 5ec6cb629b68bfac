// Package audit answers "is the backup complete?": a parallel Scan of the
// live table compared item by item with the backup's history, read through
// internal/history like every other reader (docs/DESIGN.md §7, audit).
//
// The rule: the scan starts at S; the window is [S − skew, now]. The
// backup's states of a key over the window are its state at the window's
// start and every version stored after it. An item the scan returned
// matches when it equals one of them (itemcmp: by DynamoDB's meaning);
// a key the scan did not return matches when one of them is "absent". A
// key that does not match is re-read before it is called drift: a
// consistent GetItem of the live item, then, once the writer's lag has
// passed, the key's history again; it is drift only when neither the
// scanned image nor the re-read one is among the backup's states of the
// (now longer) window. So items written during the scan, and the writer's
// lag, are not drift.
package audit

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"path"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/fastscan"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/idmap"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/itemcmp"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/retry"
)

// TableAPI is what audit asks of DynamoDB; tests fake it.
type TableAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// The kinds of drift.
const (
	Missing   = "missing"   // in the table, not in the backup
	Different = "different" // in both, never equal in the window
	Extra     = "extra"     // in the backup, not in the table
)

// Options configure an audit.
type Options struct {
	Table  string
	Schema keyschema.Schema // the table's key (DescribeTable)
	Source layout.Location  // the table's backup folder, s3://BUCKET/PREFIX/TABLE
	// Segments is the parallel Scan's TotalSegments (default 8).
	Segments int
	// SamplePercent, in (0, 100), scans that share of the segments,
	// chosen at random (0 or 100: all).
	SamplePercent float64
	// ReadUnits caps the read capacity the audit consumes a second, Scan
	// and GetItem together (0: no cap).
	ReadUnits float64
	// ClockSkew: the window starts this long before the scan (0:
	// history's default, negative: none).
	ClockSkew time.Duration
	// WriterLag is how long the stream writer may take to store a change:
	// a key that does not match is re-read from the backup this long after
	// its item was re-read from the table.
	WriterLag time.Duration
	Plan      history.Plan
	Fetchers  int // backup reads in flight (default 128)
	// Rand chooses the sample's segments (nil: a random seed).
	Rand *rand.Rand
	// Retries is how often a throttled call is retried (default 10).
	Retries int

	Scanned, Listed, Fetched *progress.Counter
}

// Drift is one key whose backup does not hold what the table holds.
type Drift struct {
	// Key is the item's key as DynamoDB JSON, e.g. {"pk":{"S":"a"}}.
	Key  json.RawMessage `json:"key"`
	Kind string          `json:"kind"`
	// ObjectKey is the key's object in the backup bucket.
	ObjectKey string `json:"objectKey"`
	// NewestBackupTime is the newest version's time the backup holds for
	// the key (a journal's: its effective time); null when none.
	NewestBackupTime *time.Time `json:"newestBackupTime"`
}

// Report is what an audit found.
type Report struct {
	Table  string `json:"table"`
	Source string `json:"source"`
	// ScanStart is when the scan started; WindowStart = ScanStart − the
	// clock skew, the start of the window the backup is read over.
	ScanStart   time.Time `json:"scanStart"`
	WindowStart time.Time `json:"windowStart"`
	Segments    int       `json:"segments"`
	// ScannedSegments are the segments scanned (all, without --sample).
	ScannedSegments []int   `json:"scannedSegments"`
	SamplePercent   float64 `json:"samplePercent"`
	// ExtraCheckedPercent is the share of the backup's keys the scan did
	// not return (present throughout the window) checked for extras: 100
	// for a whole audit; for a sample, as many as the scan's read units.
	ExtraCheckedPercent float64 `json:"extraCheckedPercent"`
	ItemsScanned        int64   `json:"itemsScanned"`
	BackupKeys          int64   `json:"backupKeys"` // keys the backup's walk listed
	// BackupReads counts the versions read by GET (the per-item layout's
	// versions whose ETag did not settle it; a journal's need none).
	BackupReads int64 `json:"backupReads"`
	// Rechecked counts the keys re-read before deciding (GetItem and the
	// key's history again).
	Rechecked      int64   `json:"rechecked"`
	ReadUnits      float64 `json:"consumedReadUnits"`
	Missing        int64   `json:"missing"`
	Different      int64   `json:"different"`
	Extra          int64   `json:"extra"`
	Drift          []Drift `json:"drift"`
	Seconds        float64 `json:"seconds"`
	ItemsPerSecond float64 `json:"itemsPerSecond"`
}

// Drifted reports whether any key drifted.
func (r *Report) Drifted() bool { return r.Missing+r.Different+r.Extra > 0 }

type digest [16]byte

// slot is one key as far as the two sides have seen it.
type slot struct {
	ck      []byte // the canonical key (nil until a side has read it)
	scanned bool
	item    digest // the scanned image (itemcmp.Digest)
	raw     digest // the MD5 of its item.Marshal: a backup object's ETag when equal
	backup  *view
	sampled bool // the key is in the backup side's sample (extras checked)
}

// view is the backup's states of a key over the window.
type view struct {
	states []digest // every present state in the window read (itemcmp.Digest)
	// etags are the MD5 ETags of the states not read (the per-item
	// layout's listing): equal to a scanned item's raw digest when its
	// object holds exactly that item.
	etags    []digest
	absentOK bool // absent at some moment of the window
	newest   time.Time
	any      bool // the backup holds any entry of the key
	present  bool // its newest entry is a version, not a deletion
}

// holds reports whether a state in the window is the item whose digest
// is d and raw digest raw.
func (v *view) holds(d, raw digest) bool {
	if v == nil {
		return false
	}
	return slices.Contains(v.states, d) || slices.Contains(v.etags, raw)
}

type run struct {
	opts    Options
	ddb     TableAPI
	src     history.Source
	x       *idmap.Map[*slot]
	limiter *retry.Limiter
	units   atomic.Uint64 // consumed read units ×1000
	t0      time.Time
	// extras, in a sample, chooses the keys not scanned that are checked
	// for extras (nil: every key).
	extras *extraPick
	// journal: the backup is a journal (its walk read one), whose keys
	// are read again by a walk: a key's history alone would merge every
	// output ever written.
	journal atomic.Bool
	// scanDone: the walk runs after the scan (a sample), so it knows
	// which keys the scan returned.
	scanDone bool
}

// Run audits the table against the backup.
func Run(ctx context.Context, src history.Source, ddb TableAPI, opts Options) (*Report, error) {
	start := time.Now()
	if opts.Segments <= 0 {
		opts.Segments = 8
	}
	if opts.Fetchers <= 0 {
		opts.Fetchers = 128
	}
	if opts.Retries <= 0 {
		opts.Retries = 10
	}
	for _, c := range []**progress.Counter{&opts.Scanned, &opts.Listed, &opts.Fetched} {
		if *c == nil {
			*c = &progress.Counter{}
		}
	}
	rng := opts.Rand
	if rng == nil {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	segs := Sample(opts.Segments, opts.SamplePercent, rng)
	r := &run{opts: opts, ddb: ddb, src: src, x: idmap.New[*slot](), limiter: retry.NewLimiter(opts.ReadUnits, time.Second),
		t0: start.Add(-history.Skew(opts.ClockSkew))}
	sampled := len(segs) < opts.Segments
	rep := &Report{Table: opts.Table, Source: opts.Source.String(), ScanStart: start.UTC(), WindowStart: r.t0.UTC(),
		Segments: opts.Segments, ScannedSegments: segs, SamplePercent: 100, ExtraCheckedPercent: 100, Drift: []Drift{}}
	if sampled {
		rep.SamplePercent = opts.SamplePercent
	}

	// 1. The scan and the backup's walk: at once for a whole audit; for a
	// sample the walk follows, to read only the keys the scan returned.
	var res *history.WalkResult
	if sampled {
		if err := r.scan(ctx, segs); err != nil {
			return nil, err
		}
		r.scanDone = true
		// The extras' check may spend what the scan spent: a GetItem
		// reads at least one unit.
		r.extras = &extraPick{seed: maphash.MakeSeed(), budget: max(1, int(math.Ceil(float64(r.units.Load())/1000)))}
		var err error
		if res, err = r.walk(ctx, nil); err != nil {
			return nil, err
		}
		rep.ExtraCheckedPercent = r.extras.add(r.x)
	} else {
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return r.scan(gctx, segs) })
		g.Go(func() error {
			var err error
			res, err = r.walk(gctx, nil)
			return err
		})
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
	rep.BackupKeys = res.Keys
	rep.ItemsScanned = opts.Scanned.Load()
	rep.BackupReads = opts.Fetched.Load()

	// 2. What did not match is re-read before it is called drift.
	cands := r.candidates()
	rep.Rechecked = int64(len(cands))
	drift, err := r.recheck(ctx, cands)
	if err != nil {
		return nil, err
	}
	for _, d := range drift {
		switch d.Kind {
		case Missing:
			rep.Missing++
		case Different:
			rep.Different++
		case Extra:
			rep.Extra++
		}
	}
	rep.Drift = drift
	rep.ReadUnits = float64(r.units.Load()) / 1000
	rep.Seconds = time.Since(start).Seconds()
	if rep.Seconds > 0 {
		rep.ItemsPerSecond = float64(rep.ItemsScanned) / rep.Seconds
	}
	return rep, nil
}

// Sample chooses round(n × percent / 100) of the segments 0..n-1 at
// random (at least one), in ascending order; all of them for 0 or >= 100.
func Sample(n int, percent float64, rng *rand.Rand) []int {
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	if percent <= 0 || percent >= 100 {
		return all
	}
	k := max(1, int(float64(n)*percent/100+0.5))
	rng.Shuffle(n, func(i, j int) { all[i], all[j] = all[j], all[i] })
	out := all[:min(k, n)]
	sort.Ints(out)
	return out
}

// extraPick chooses, in a sample, which keys the scan did not return
// (present throughout the window) are checked for extras, one GetItem
// each: budget of them, those with the smallest keyed hash of their id, a
// uniform random subset (a new seed each run).
type extraPick struct {
	mu     sync.Mutex
	seed   maphash.Seed
	budget int
	heap   extraHeap
	seen   int64
}

type extraKey struct {
	h  uint64
	id [32]byte
	ck []byte
	v  *view
}

// extraHeap is a max-heap by h: its top is the first to leave.
type extraHeap []extraKey

func (h extraHeap) Len() int           { return len(h) }
func (h extraHeap) Less(i, j int) bool { return h[i].h > h[j].h }
func (h extraHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *extraHeap) Push(x any)        { *h = append(*h, x.(extraKey)) }
func (h *extraHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// offer considers a key; key gives its canonical key when it is kept
// (nil: read later).
func (e *extraPick) offer(id [32]byte, v *view, key func() ([]byte, error)) error {
	h := maphash.Bytes(e.seed, id[:])
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seen++
	if len(e.heap) == e.budget && h >= e.heap[0].h {
		return nil
	}
	ck, err := key()
	if err != nil {
		return err
	}
	if len(e.heap) == e.budget {
		heap.Pop(&e.heap)
	}
	heap.Push(&e.heap, extraKey{h: h, id: id, ck: ck, v: v})
	return nil
}

// add puts the chosen keys into the index as candidates and returns the
// share of the offered keys they are, in percent.
func (e *extraPick) add(x *idmap.Map[*slot]) float64 {
	for _, k := range e.heap {
		x.Set(k.id, &slot{ck: k.ck, backup: k.v, sampled: true})
	}
	if e.seen == 0 {
		return 100
	}
	return 100 * float64(len(e.heap)) / float64(e.seen)
}

func (r *run) spend(units float64) {
	r.limiter.Spend(units)
	r.units.Add(uint64(units * 1000))
}

var backoff = retry.Backoff{Base: 200 * time.Millisecond, Cap: 20 * time.Second}

func (r *run) call(ctx context.Context, fn func() error) error {
	return retry.Do(ctx, backoff, r.opts.Retries, retry.IsThrottle, fn)
}

// scan reads the chosen segments with consistent reads, under the
// read-unit cap, and matches each item.
func (r *run) scan(ctx context.Context, segs []int) error {
	g, gctx := errgroup.WithContext(ctx)
	names := r.opts.Schema.Names()
	for _, seg := range segs {
		g.Go(func() error {
			var buf scratch
			in := &dynamodb.ScanInput{TableName: aws.String(r.opts.Table), Segment: aws.Int32(int32(seg)),
				TotalSegments: aws.Int32(int32(r.opts.Segments)), ConsistentRead: aws.Bool(true),
				ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal}
			for {
				if err := r.limiter.Wait(gctx, 0); err != nil {
					return err
				}
				var out *dynamodb.ScanOutput
				err := r.call(gctx, func() error {
					var err error
					out, err = r.ddb.Scan(gctx, in, fastscan.Option)
					return err
				})
				if err != nil {
					var nf *types.ResourceNotFoundException
					if errors.As(err, &nf) {
						return fmt.Errorf("table %s does not exist", r.opts.Table)
					}
					return fmt.Errorf("scan table %s segment %d: %w", r.opts.Table, seg, err)
				}
				r.spend(scanUnits(out))
				for _, av := range out.Items {
					if err := r.scanned(item.Item(av), names, &buf); err != nil {
						return err
					}
				}
				r.opts.Scanned.Add(int64(len(out.Items)))
				if len(out.LastEvaluatedKey) == 0 {
					return nil
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
		})
	}
	return g.Wait()
}

// scanUnits is a page's consumed capacity, or, from a server that does
// not report it, a consistent read's cost of its bytes.
func scanUnits(out *dynamodb.ScanOutput) float64 {
	if out.ConsumedCapacity != nil && out.ConsumedCapacity.CapacityUnits != nil {
		return *out.ConsumedCapacity.CapacityUnits
	}
	var n int64
	for _, it := range out.Items {
		n += item.Size(it)
	}
	return float64((n + 4095) / 4096)
}

// itemDigest is an item's digest by meaning: canonicalDigest of its
// canonical encoding (itemcmp.Canonical).
func itemDigest(it item.Item) (digest, error) {
	b, err := itemcmp.Canonical(it)
	return canonicalDigest(b), err
}

// canonicalDigest is the digest of a canonical encoding: the first half of
// its SHA-256 (itemcmp.Digest's).
func canonicalDigest(canon []byte) digest {
	full := sha256.Sum256(canon)
	return digest(full[:len(digest{})])
}

// rawDigest is the MD5 of the item as the backup stores it (item.Marshal,
// docs/DESIGN.md §2.2): its object's ETag when the object holds it.
func rawDigest(it item.Item) (digest, error) {
	b, err := item.Marshal(it)
	return md5.Sum(b), err
}

// etagDigest reads an ETag that is an MD5 (a single-part PUT without
// SSE-KMS); ok is false for any other.
func etagDigest(etag string) (d digest, ok bool) {
	if len(etag) != 32 {
		return d, false
	}
	_, err := hex.Decode(d[:], []byte(etag))
	return d, err == nil
}

// scratch is one scanning goroutine's encoding buffers.
type scratch struct{ raw, canon []byte }

func (r *run) scanned(it item.Item, names []string, buf *scratch) error {
	ck, err := item.CanonicalKey(it, names...)
	if err != nil {
		return fmt.Errorf("scan table %s: an item does not fit the key %s: %w", r.opts.Table, r.opts.Schema, err)
	}
	// Both digests from one encoding walk: the raw one (an object's ETag,
	// a journal body's MD5) settles most keys; the canonical one compares
	// by meaning where the bytes differ.
	buf.raw, buf.canon, err = item.AppendItemAndCanonical(buf.raw[:0], buf.canon[:0], it)
	if err != nil {
		return fmt.Errorf("scan table %s: %w", r.opts.Table, err)
	}
	raw, d := digest(md5.Sum(buf.raw)), canonicalDigest(buf.canon)
	id := sha256.Sum256(ck)
	m := r.x.Lock(id)
	defer r.x.Unlock(id)
	s := m[id]
	switch {
	case s == nil:
		m[id] = &slot{ck: ck, scanned: true, item: d, raw: raw}
	case s.scanned:
		return fmt.Errorf("scan table %s returned key %s twice", r.opts.Table, ck)
	case s.backup.holds(d, raw):
		delete(m, id) // matched
	default:
		s.ck, s.scanned, s.item, s.raw = ck, true, d, raw
	}
	return nil
}

// pick is what the walk decided for a key.
type pick struct {
	id   [32]byte
	view *view
	ck   []byte // the canonical key, when read from a body not decoded
}

// walk reads the backup's states of every key over the window (only the
// keys in want, when not nil), and matches them.
func (r *run) walk(ctx context.Context, want map[[32]byte]*slot) (*history.WalkResult, error) {
	plan := r.opts.Plan
	plan.Newer, plan.Recent = true, true
	var found sync.Map
	stats := &history.Stats{}
	w := &history.Walk[pick]{Source: r.src, Dir: r.opts.Source.Dir(), Plan: plan, Times: []time.Time{r.t0}, Stats: stats,
		Fetchers: r.opts.Fetchers, Listed: r.opts.Listed, Fetched: r.opts.Fetched,
		Pick: func(k *history.Key) ([]history.Entry, pick, bool, error) {
			id, err := objectID(k.ObjectKey)
			if err != nil {
				return nil, pick{}, false, fmt.Errorf("s3://%s/%s: %w", r.src.Bucket(), k.ObjectKey, err)
			}
			p := pick{id: id}
			read, v := window(k.At[0], k.Exists[0], k.Recent)
			p.view = v
			if want != nil { // a re-read: every state, by its body
				if want[id] == nil {
					return nil, p, false, nil
				}
				return read, p, true, nil
			}
			scanned, raw := r.scannedAs(id)
			if r.scanDone && !scanned {
				// A sample: the keys the scan returned are read; of the
				// rest, those present throughout the window are offered
				// to the extras' check (absence decides: no body).
				if v.absentOK {
					return nil, p, false, nil
				}
				return nil, p, false, r.extras.offer(id, v, func() ([]byte, error) {
					if read[0].Body == nil {
						return nil, nil // a GET: only if it is checked
					}
					it, err := item.Unmarshal(read[0].Body)
					if err != nil {
						return nil, fmt.Errorf("s3://%s/%s: %w", r.src.Bucket(), k.ObjectKey, err)
					}
					return item.CanonicalKey(it, r.opts.Schema.Names()...)
				})
			}
			// A version whose ETag is an MD5 is compared by it, unread
			// (a journal's carry their bodies: no GET). A scanned item
			// none of them equals byte for byte is compared by meaning:
			// every state is read.
			// A journal's entry carries its body, canonical JSON as
			// item.Marshal writes it: its MD5 stands for an ETag, so
			// the item is neither decoded nor digested unless the
			// bytes differ.
			var body []history.Entry
			for _, e := range read {
				switch d, ok := etagDigest(e.ETag); {
				case ok && e.Body == nil:
					v.etags = append(v.etags, d)
				case e.Body != nil:
					v.etags = append(v.etags, md5.Sum(e.Body))
					if p.ck == nil {
						if _, key, ok := item.ValidCanonical(e.Body, r.opts.Schema.Names()); ok {
							p.ck = key
						}
					}
				default:
					body = append(body, e)
				}
			}
			if scanned && len(v.etags) > 0 && !slices.Contains(v.etags, raw) {
				v.etags, body = nil, read
			}
			return body, p, true, nil
		},
		Emit: func(_ context.Context, k *history.Key, p pick, got []history.Version) error {
			ck := p.ck
			for _, v := range got {
				d, err := itemDigest(v.Item)
				if err != nil {
					return fmt.Errorf("s3://%s/%s: %w", r.src.Bucket(), k.ObjectKey, err)
				}
				p.view.states = append(p.view.states, d)
				if ck == nil {
					if ck, err = item.CanonicalKey(v.Item, r.opts.Schema.Names()...); err != nil {
						return fmt.Errorf("s3://%s/%s: the item does not fit table %s's key %s: %w", r.src.Bucket(), k.ObjectKey, r.opts.Table, r.opts.Schema, err)
					}
				}
			}
			if want != nil {
				found.Store(p.id, p.view)
				return nil
			}
			r.backed(p, ck)
			return nil
		}}
	res, err := w.Run(ctx)
	if err != nil {
		return nil, err
	}
	if stats.JournalReads.Load() > 0 {
		r.journal.Store(true)
	}
	if want != nil {
		for id, s := range want {
			s.backup = &view{absentOK: true}
			if v, ok := found.Load(id); ok {
				s.backup = v.(*view)
			}
		}
	}
	return res, nil
}

// window is what the walk reads of a key for its states over the window:
// the state at its start and every version after (newest first), and the
// view without the digests.
func window(at history.Entry, exists bool, recent []history.Entry) ([]history.Entry, *view) {
	v := &view{absentOK: !exists}
	var read []history.Entry
	for _, e := range recent {
		if e.IsDelete {
			v.absentOK = true
		} else {
			read = append(read, e)
		}
	}
	if exists {
		read = append(read, at)
	}
	switch {
	case len(recent) > 0:
		v.newest, v.any, v.present = recent[0].LastModified, true, !recent[0].IsDelete
	case at.Key != "":
		v.newest, v.any, v.present = at.LastModified, true, exists
	}
	return read, v
}

func objectID(objectKey string) ([32]byte, error) {
	var id [32]byte
	b, err := hex.DecodeString(path.Base(objectKey))
	if err != nil || len(b) != 32 {
		return id, fmt.Errorf("not a dynasnap object id (the hex SHA-256 of the item's key): an audit relates keys to objects by it")
	}
	copy(id[:], b)
	return id, nil
}

// scannedAs reports whether the scan returned the key, and its item's raw
// digest.
func (r *run) scannedAs(id [32]byte) (bool, digest) {
	m := r.x.Lock(id)
	defer r.x.Unlock(id)
	if s := m[id]; s != nil && s.scanned {
		return true, s.raw
	}
	return false, digest{}
}

// backed records a key's backup view and matches it with the scan.
func (r *run) backed(p pick, ck []byte) {
	m := r.x.Lock(p.id)
	defer r.x.Unlock(p.id)
	s := m[p.id]
	switch {
	case s != nil && s.scanned && p.view.holds(s.item, s.raw):
		delete(m, p.id) // matched
	case s != nil:
		s.backup = p.view
	default: // a whole audit: the scan may still return it
		m[p.id] = &slot{ck: ck, backup: p.view, sampled: true}
	}
}

type candidate struct {
	id [32]byte
	*slot
	current item.Item // the live item re-read (nil: absent)
	dig     digest
	curRaw  digest
}

// candidates are the keys that did not match: scanned and not held, or
// held (present all through the window) and not scanned.
func (r *run) candidates() []*candidate {
	var out []*candidate
	for id, s := range r.x.All() {
		switch {
		case s.scanned: // held and not matched, or not held at all
		case s.backup != nil && !s.backup.absentOK && s.sampled:
		default:
			continue
		}
		out = append(out, &candidate{id: id, slot: s})
	}
	return out
}

// recheckWalk is how many candidates make a second walk cheaper than a
// listing of each key's versions (a journal's are always read by a walk).
const recheckWalk = 64

// recheck re-reads each candidate's live item (consistent GetItem), waits
// out the writer's lag, reads the key's states again, and returns the keys
// that still do not match.
func (r *run) recheck(ctx context.Context, cands []*candidate) ([]Drift, error) {
	if len(cands) == 0 {
		return []Drift{}, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, c := range cands {
		g.Go(func() error {
			if c.ck == nil { // listed only, never read: its key from its newest version
				if err := r.readKey(gctx, c); err != nil {
					return err
				}
			}
			return r.getItem(gctx, c)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := retry.Sleep(ctx, r.opts.WriterLag); err != nil {
		return nil, err
	}
	if len(cands) > recheckWalk || r.journal.Load() {
		want := make(map[[32]byte]*slot, len(cands))
		for _, c := range cands {
			want[c.id] = c.slot
		}
		if _, err := r.walk(ctx, want); err != nil {
			return nil, err
		}
	} else {
		g, gctx = errgroup.WithContext(ctx)
		g.SetLimit(16)
		for _, c := range cands {
			g.Go(func() error {
				v, err := r.history(gctx, c.id)
				c.backup = v
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
	out := []Drift{}
	for _, c := range cands {
		v := c.backup
		switch {
		case c.scanned && v.holds(c.item, c.raw):
			continue
		case c.current == nil && v.absentOK:
			continue
		case c.current != nil && v.holds(c.dig, c.curRaw):
			continue
		}
		d := Drift{Key: json.RawMessage(c.ck), ObjectKey: r.opts.Source.ObjectKey(hex.EncodeToString(c.id[:]))}
		if v.any {
			t := v.newest.UTC()
			d.NewestBackupTime = &t
		}
		// The kind is what the table holds now against what the
		// backup holds now.
		switch {
		case c.current == nil:
			d.Kind = Extra
		case v.present:
			d.Kind = Different
		default:
			d.Kind = Missing
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].Key) < string(out[j].Key) })
	return out, nil
}

// readKey reads a candidate's key attributes from its newest version: a
// key the scan did not return and the walk only listed.
func (r *run) readKey(ctx context.Context, c *candidate) error {
	key := r.opts.Source.ObjectKey(hex.EncodeToString(c.id[:]))
	entries, err := history.KeyVersions(ctx, r.src, key)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, e := range entries {
		if e.IsDelete {
			continue
		}
		it, err := history.ReadItem(ctx, r.src, e, &buf)
		if err != nil {
			return err
		}
		if c.ck, err = item.CanonicalKey(it, r.opts.Schema.Names()...); err != nil {
			return fmt.Errorf("s3://%s/%s: the item does not fit table %s's key %s: %w", r.src.Bucket(), key, r.opts.Table, r.opts.Schema, err)
		}
		return nil
	}
	return fmt.Errorf("s3://%s/%s: no version left to read the key from", r.src.Bucket(), key)
}

func (r *run) getItem(ctx context.Context, c *candidate) error {
	k, err := item.Unmarshal(c.ck)
	if err != nil {
		return err
	}
	if err := r.limiter.Wait(ctx, 0); err != nil {
		return err
	}
	var out *dynamodb.GetItemOutput
	err = r.call(ctx, func() error {
		var err error
		out, err = r.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.opts.Table), Key: k,
			ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
		return err
	})
	if err != nil {
		return fmt.Errorf("get item %s from table %s: %w", c.ck, r.opts.Table, err)
	}
	units := 1.0
	if out.ConsumedCapacity != nil && out.ConsumedCapacity.CapacityUnits != nil {
		units = *out.ConsumedCapacity.CapacityUnits
	}
	r.spend(units)
	if len(out.Item) > 0 {
		c.current = out.Item
		if c.dig, err = itemDigest(c.current); err != nil {
			return err
		}
		if c.curRaw, err = rawDigest(c.current); err != nil {
			return err
		}
	}
	return nil
}

// history reads one key's states over the window from its versions
// (history.KeyVersions: a listing, or a journal's merge of the key).
func (r *run) history(ctx context.Context, id [32]byte) (*view, error) {
	key := r.opts.Source.ObjectKey(hex.EncodeToString(id[:]))
	entries, err := history.KeyVersions(ctx, r.src, key)
	if err != nil {
		return nil, err
	}
	at, exists := history.StateAt(entries, r.t0)
	n := 0
	for n < len(entries) && entries[n].LastModified.After(r.t0) {
		n++
	}
	read, v := window(at, exists, entries[:n])
	var buf bytes.Buffer
	for _, e := range read {
		it, err := history.ReadItem(ctx, r.src, e, &buf)
		if err != nil {
			return nil, err
		}
		d, err := itemDigest(it)
		if err != nil {
			return nil, err
		}
		v.states = append(v.states, d)
	}
	return v, nil
}
