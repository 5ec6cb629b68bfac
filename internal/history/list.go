package history

import (
	"container/heap"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// Stats counts listing work; safe for concurrent use.
type Stats struct {
	Versions atomic.Int64 // entries walked (versions and delete markers)
	Requests atomic.Int64 // listing requests, probes included
	Prefixes atomic.Int64 // prefixes listed (splits included)
	Probes   atomic.Int64 // one-entry requests that check a gap for non-hex keys
	Overread atomic.Int64 // entries a request returned past its segment's end
	Repeats  atomic.Int64 // entries a server listed twice, dropped
	// A journal's (docs/DESIGN.md §10): journal objects read, and changes
	// made by the latest time read but stored too late to count then.
	JournalReads atomic.Int64
	Late         atomic.Int64
}

// pageAhead is how many pages one listing may hold ahead of the reader.
const pageAhead = 2

// firstPage is the size of the first page of a segment the walk starts
// from, when it may be split (docs/DESIGN.md §4).
const firstPage = 200

// startListings is how many prefixes a walk lists at once before its
// reader has waited for a page while its consumer was short of work
// (docs/DESIGN.md §4).
const startListings = 4

// need is how short of work the consumer of a walk's keys is.
type need int

const (
	fed   need = iota // enough keys wait for the fetchers
	short             // fewer wait than there are fetchers
	idle              // none wait: the fetchers have nothing to do
)

// highest sorts after every character a key may hold.
const highest = "\U0010FFFF"

// lister lists segments of a table folder in key order. A prefix is
// listed by Prefix, never by a marker seek; when its first page is
// truncated and it is shallower than depth, it is split into its sixteen
// hex children (listed concurrently, read in order) and its gaps. So a
// small table costs a few requests whatever the range count, and a large
// one is listed up to limit prefixes at once, with memory bounded by
// limit * pageAhead pages however many ranges there are.
//
// It starts with startListings prefixes at once. While the reader waits
// for a page, it lists one more at once if hungry says the consumer has
// run short of work, and twice as many if it has run out, up to limit.
// A walk that fetches most of what it lists so keeps listing just ahead
// of its fetches: listings that run far ahead cost the server's time
// while the first fetches wait (on a server that shares its CPU, the
// first 0.4 s of a small snapshot went at a quarter of its speed), and
// buy nothing. A walk that fetches little (an incremental snapshot) has
// no work waiting whenever its reader waits, and reaches limit within a
// few pages.
type lister struct {
	src      Source
	dir      string // the table folder, ending in "/"
	depth    int    // deepest split: the range bounds' length
	pageSize int32
	stats    *Stats
	hungry   func() need     // nil: always idle
	wake     <-chan struct{} // a send when hungry may have changed

	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	pending jobHeap // created, not started, by start key
	active  int     // started and not yet read to the end
	room    int     // how many may be active now: startListings, grown by next
	limit   int
	err     error
}

// job lists one segment; its output is read in order.
type job struct {
	seg     segment
	after   Marker // resume after this (a split's partial child)
	start   string // the least key it may give, for ordering
	seen    map[Marker]bool
	out     chan chunk
	first   bool // a segment the walk starts from, not a split's child
	started bool
	index   int // in the heap
}

// chunk is a page of entries, or a child job that comes next in order.
type chunk struct {
	entries []Entry
	child   *job
}

func (l *lister) newJob(seg segment, after Marker, seen map[Marker]bool) *job {
	start := l.dir + seg.prefix
	if seg.gap {
		start = l.dir + seg.from
	}
	if after.Key != "" {
		start = after.Key
	}
	return &job{seg: seg, after: after, start: start, seen: seen, out: make(chan chunk, pageAhead)}
}

// walk calls fn for every entry of the segments in listing order.
func (l *lister) walk(ctx context.Context, segs []segment, fn func(Entry) error) error {
	l.parent = ctx
	l.ctx, l.cancel = context.WithCancel(ctx)
	defer l.cancel()
	jobs := make([]*job, len(segs))
	for i, s := range segs {
		jobs[i] = l.newJob(s, Marker{}, nil)
		jobs[i].first = true
	}
	l.add(jobs...)
	lastKey := ""
	var read func(j *job) error
	read = func(j *job) error {
		l.demand(j)
		for {
			c, ok := l.next(j)
			if !ok {
				break
			}
			if c.child != nil {
				if err := read(c.child); err != nil {
					return err
				}
				continue
			}
			for _, e := range c.entries {
				if e.Key < lastKey {
					return fmt.Errorf("list versions s3://%s/%s: server listed key %q after %q, out of order", l.src.Bucket(), l.dir, e.Key, lastKey)
				}
				lastKey = e.Key
				l.stats.Versions.Add(1)
				if err := fn(e); err != nil {
					return err
				}
			}
		}
		l.finish()
		return l.firstErr()
	}
	for _, j := range jobs {
		if err := read(j); err != nil {
			l.cancel()
			return err
		}
	}
	return l.firstErr()
}

func (l *lister) firstErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		return l.parent.Err()
	}
	return l.err
}

func (l *lister) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	l.cancel()
}

// add registers jobs to be started in key order as room allows.
func (l *lister) add(jobs ...*job) {
	l.mu.Lock()
	for _, j := range jobs {
		heap.Push(&l.pending, j)
	}
	l.fillLocked()
	l.mu.Unlock()
}

// next is j's next chunk; while the reader waits for it, the more the
// consumer lacks work, the more prefixes are listed at once: one more
// when it runs short, twice as many when it runs out, each once a wait.
func (l *lister) next(j *job) (chunk, bool) {
	select {
	case c, ok := <-j.out:
		return c, ok
	default:
	}
	grown := fed
	for {
		n := idle
		if l.hungry != nil {
			n = l.hungry()
		}
		if n > grown {
			grown = n
			l.mu.Lock()
			if l.pending.Len() > 0 && l.room < l.limit {
				if n == idle {
					l.room = min(l.room*2, l.limit)
				} else {
					l.room++
				}
				l.fillLocked()
			}
			l.mu.Unlock()
		}
		// The consumer may run short while this waits.
		select {
		case c, ok := <-j.out:
			return c, ok
		case <-l.wake:
		}
	}
}

// demand starts j now if it has not started: the reader waits for it, so
// it may not wait for room (jobs ahead of it hold theirs until read).
func (l *lister) demand(j *job) {
	l.mu.Lock()
	if !j.started {
		heap.Remove(&l.pending, j.index)
		l.startLocked(j)
	}
	l.mu.Unlock()
}

func (l *lister) finish() {
	l.mu.Lock()
	l.active--
	l.fillLocked()
	l.mu.Unlock()
}

func (l *lister) fillLocked() {
	for l.active < min(l.room, l.limit) && l.pending.Len() > 0 {
		l.startLocked(heap.Pop(&l.pending).(*job))
	}
}

func (l *lister) startLocked(j *job) {
	j.started = true
	l.active++
	go func() {
		defer close(j.out)
		if err := l.run(j); err != nil && l.ctx.Err() == nil {
			l.fail(err)
		}
	}()
}

func (l *lister) emit(j *job, c chunk) error {
	select {
	case j.out <- c:
		return nil
	case <-l.ctx.Done():
		return l.ctx.Err()
	}
}

func (l *lister) list(prefix string, after Marker, max int32) (*Page, error) {
	l.stats.Requests.Add(1)
	return l.src.List(l.ctx, prefix, after, max)
}

// run lists one job's segment.
func (l *lister) run(j *job) error {
	if j.seg.gap {
		return l.runGap(j)
	}
	l.stats.Prefixes.Add(1)
	prefix := l.dir + j.seg.prefix
	size := l.pageSize
	if j.first && len(j.seg.prefix) < l.depth && (size <= 0 || size > firstPage) {
		// Nothing else is listed while the walk's first pages are out,
		// and a server takes time in proportion to a page's entries: a
		// short page tells as soon whether to split, and the fetches
		// start on its entries while the children are listed.
		size = firstPage
	}
	page, err := l.list(prefix, j.after, size)
	if err != nil {
		return err
	}
	entries := l.dedup(j, page.Entries)
	if !page.IsTruncated {
		return l.emit(j, chunk{entries: entries})
	}
	if len(j.seg.prefix) >= l.depth || !l.worthSplitting(prefix, page) {
		return l.page(j, prefix, page, entries)
	}
	// Split: the page holds the start of the prefix; the child (or gap)
	// it stopped in goes on from the page's marker, the later ones are
	// listed by their own prefixes.
	if err := l.emit(j, chunk{entries: entries}); err != nil {
		return err
	}
	next, err := nextMarker(page, Marker{}, l.src.Bucket(), prefix)
	if err != nil {
		return err
	}
	if next.Key < prefix || len(next.Key) < len(l.dir) {
		return fmt.Errorf("list versions s3://%s/%s: next key marker %q is outside the prefix", l.src.Bucket(), prefix, next.Key)
	}
	q := j.seg.prefix
	child, gap := childOf(q, next.Key[len(l.dir):])
	seen := markers(page.Entries)
	var kids []*job
	order := []string{"g0", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "g1", "a", "b", "c", "d", "e", "f", "g2"}
	here := child
	if child == "" {
		here = fmt.Sprintf("g%d", gap)
	}
	found := false
	g := gaps(q)
	for _, name := range order {
		var seg segment
		if name[0] == 'g' && len(name) == 2 {
			seg = g[name[1]-'0']
		} else {
			seg = segment{prefix: q + name}
		}
		switch {
		case name == here:
			found = true
			kids = append(kids, l.newJob(seg, next, seen))
		case found:
			kids = append(kids, l.newJob(seg, Marker{}, nil))
		}
	}
	l.add(kids...)
	for _, k := range kids {
		if err := l.emit(j, chunk{child: k}); err != nil {
			return err
		}
	}
	return nil
}

// splitPages is how many pages a prefix must be estimated to hold before
// it is split: a split costs sixteen listings and up to three gap probes,
// where a prefix of a few pages is done sooner, and with far fewer
// requests, by paging it (on a 100k-item table split at every truncated
// page, 4,400 listings of ~78 entries instead of ~500 of ~700).
const splitPages = 3

// worthSplitting estimates from a truncated first page how many entries
// the prefix holds: object ids are uniform hex, so the share of the
// prefix's key space the page covered, read from the hex digits after the
// prefix in its last key, scales its length to the whole. A page that
// stops at a key that is not a hex id tells nothing; it is split.
func (l *lister) worthSplitting(prefix string, page *Page) bool {
	size := int(l.pageSize)
	if size <= 0 {
		size = MaxPageSize
	}
	rest := strings.TrimPrefix(page.NextKeyMarker, prefix)
	var v, span float64 = 0, 1
	for i := 0; i < len(rest) && i < 4; i++ {
		d := strings.IndexByte("0123456789abcdef", rest[i])
		if d < 0 {
			break
		}
		v, span = v*16+float64(d), span*16
	}
	if span == 1 || len(page.Entries) == 0 {
		return true
	}
	covered := (v + 1) / span
	return float64(len(page.Entries))/covered > float64(splitPages*size)
}

// page lists the rest of a prefix that is not split further, page by page.
func (l *lister) page(j *job, prefix string, page *Page, entries []Entry) error {
	cur := j.after
	for {
		if err := l.emit(j, chunk{entries: entries}); err != nil {
			return err
		}
		if !page.IsTruncated {
			return nil
		}
		next, err := nextMarker(page, cur, l.src.Bucket(), prefix)
		if err != nil {
			return err
		}
		j.seen = markers(page.Entries)
		if page, err = l.list(prefix, next, l.pageSize); err != nil {
			return err
		}
		cur = next
		entries = l.dedup(j, page.Entries)
	}
}

// runGap lists the keys of a gap, [from, to) under its prefix: one
// one-entry probe first, since a gap is almost always empty, and a listing
// that cannot be bounded above would otherwise read a page past it.
func (l *lister) runGap(j *job) error {
	prefix := l.dir + j.seg.prefix
	from, to := l.dir+j.seg.from, ""
	if j.seg.to != "" {
		to = l.dir + j.seg.to
	}
	after := j.after
	if after.Key == "" && j.seg.from != j.seg.prefix {
		// Just before from: after every key of the hex child before it.
		after = Marker{Key: from[:len(from)-1] + string(from[len(from)-1]-1) + highest}
	}
	inGap := func(k string) bool { return k >= from && (to == "" || k < to) }
	if j.after.Key == "" {
		l.stats.Probes.Add(1)
		probe, err := l.list(prefix, after, 1)
		if err != nil {
			return err
		}
		if len(probe.Entries) == 0 || !inGap(probe.Entries[0].Key) {
			// The entry belongs to the next segment, which lists it.
			return nil
		}
	}
	// Pages start small and grow: a gap holds a few stray keys, and its
	// last page reads past its end.
	cur, size := after, int32(8)
	for {
		if l.pageSize > 0 && size > l.pageSize {
			size = l.pageSize
		}
		page, err := l.list(prefix, cur, size)
		size = min(size*4, MaxPageSize)
		if err != nil {
			return err
		}
		var keep []Entry
		done := !page.IsTruncated
		for _, e := range l.dedup(j, page.Entries) {
			switch {
			case e.Key < from:
				l.stats.Overread.Add(1)
			case inGap(e.Key):
				keep = append(keep, e)
			default:
				l.stats.Overread.Add(1)
				done = true
			}
		}
		if err := l.emit(j, chunk{entries: keep}); err != nil {
			return err
		}
		if done {
			return nil
		}
		j.seen = markers(page.Entries)
		if cur, err = nextMarker(page, cur, l.src.Bucket(), prefix); err != nil {
			return err
		}
	}
}

// dedup drops entries the server listed again across a page boundary.
func (l *lister) dedup(j *job, entries []Entry) []Entry {
	if len(j.seen) == 0 {
		return entries
	}
	out := entries[:0:0]
	for _, e := range entries {
		if j.seen[Marker{e.Key, e.VersionID}] {
			l.stats.Repeats.Add(1)
			continue
		}
		out = append(out, e)
	}
	return out
}

func markers(entries []Entry) map[Marker]bool {
	m := make(map[Marker]bool, len(entries))
	for _, e := range entries {
		m[Marker{e.Key, e.VersionID}] = true
	}
	return m
}

// nextMarker is where a truncated page resumes; a page that does not move
// forward is an error, never a loop.
func nextMarker(page *Page, cur Marker, bucket, prefix string) (Marker, error) {
	next := Marker{page.NextKeyMarker, page.NextVersionIDMarker}
	switch {
	case next.Key == "":
		return next, fmt.Errorf("list versions s3://%s/%s: truncated page without a next key marker", bucket, prefix)
	case next == cur:
		return next, fmt.Errorf("list versions s3://%s/%s: server returned no progress after key %q version %q; refusing to loop", bucket, prefix, cur.Key, cur.VersionID)
	case next.Key < cur.Key:
		return next, fmt.Errorf("list versions s3://%s/%s: next key marker %q goes backwards from %q", bucket, prefix, next.Key, cur.Key)
	}
	return next, nil
}

// jobHeap orders jobs by the first key they may give.
type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, k int) bool { return h[i].start < h[k].start }
func (h jobHeap) Swap(i, k int) {
	h[i], h[k] = h[k], h[i]
	h[i].index, h[k].index = i, k
}
func (h *jobHeap) Push(x any) {
	j := x.(*job)
	j.index = len(*h)
	*h = append(*h, j)
}
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	*h = old[:len(old)-1]
	j.index = -1
	return j
}
