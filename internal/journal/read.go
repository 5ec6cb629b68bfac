package journal

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/retry"
)

// Clock says what time it is and waits; tests replace it.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time                                   { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error { return retry.Sleep(ctx, d) }

// Reader reads a journal as history entries (docs/DESIGN.md §10.5).
type Reader struct {
	Bucket Bucket
	// Skew is the clock skew allowed between this machine and S3: a read
	// at T waits until T + lag + Skew has passed.
	Skew  time.Duration
	Clock Clock // nil: the real clock
	// Wait is told how long a read waits for the journal's lag, before it
	// waits (nil: it waits silently).
	Wait func(until time.Time)
	// Stored reads what is stored now instead of waiting out the lag: a
	// state at T may then miss a change whose segment is not stored yet.
	// Only for a caller that reads again, after the lag, whatever it
	// finds wrong (audit, docs/DESIGN.md §7).
	Stored bool
	// FanIn is the most segments read at once (0: FanIn); more are merged
	// into local files first.
	FanIn int
	// State, if set, is the folder Merge reads as listed already (the
	// horizon check listed it): Merge does not list it again.
	State *State
}

func (r *Reader) fanIn() int {
	if r.FanIn > 1 {
		return r.FanIn
	}
	return FanIn
}

func (r *Reader) clock() Clock {
	if r.Clock == nil {
		return realClock{}
	}
	return r.Clock
}

// batch is a run of records of one source, in id order.
type batch []Record

// ReadStats counts what a read did.
type ReadStats struct {
	Objects  atomic.Int64 // journal objects read (manifests, parts, segments)
	Segments atomic.Int64 // of those, segments
	Records  atomic.Int64 // records read
	Late     atomic.Int64 // changes made by the latest time but stored too late to count then
	Ranged   atomic.Int64 // of the parts read, those read by their key index (a ranged GET)
}

// Merge reads the journal in dir for the ids in [lo, hi) at times and
// calls fn with each key's entries, newest first (the history.Merger
// contract). ok is false when dir holds no journal.
func (r *Reader) Merge(ctx context.Context, dir, lo, hi string, times []time.Time, stats *history.Stats, fn func(history.Entry) error) (bool, error) {
	st, err := r.loadState(ctx, dir) // history.go
	if errors.Is(err, ErrNoJournal) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var rs ReadStats
	rs.Objects.Add(2) // the descriptor and the outputs' listing
	err = r.MergeState(ctx, st, lo, hi, times, &rs, func(g []Record, base time.Time) error {
		return emitGroup(dir, g, base, st.Desc.Lag(), fn)
	})
	if stats != nil {
		stats.JournalReads.Add(rs.Objects.Load())
		stats.Late.Add(rs.Late.Load())
		stats.Requests.Add(rs.Objects.Load())
	}
	return true, err
}

// MergeState reads st for the ids in [lo, hi) at times (none: everything
// stored, no base) and calls fn with each id's records in the order they
// were made, duplicates dropped, and the time of the base its first record
// came from (zero when none).
func (r *Reader) MergeState(ctx context.Context, st *State, lo, hi string, times []time.Time, rs *ReadStats, fn func(g []Record, base time.Time) error) error {
	tmin, tmax, wait := history.UpToNow, time.Time{}, time.Time{}
	for _, t := range times {
		tmin = minTime(tmin, t)
		tmax = maxTime(tmax, t)
		if t.Before(history.UpToNow) {
			wait = maxTime(wait, t)
		}
	}
	useBase := len(times) > 0
	if !useBase {
		tmax = history.UpToNow
	}
	if !wait.IsZero() && !r.Stored {
		if err := r.waitLag(ctx, st, wait); err != nil {
			return err
		}
	}
	plan := st.Plan(tmin, tmax, useBase)
	if !useBase {
		plan = st.withFirstBase(plan) // history.go
	}
	return r.mergePlan(ctx, st, plan, lo, hi, tmax, useBase, rs, fn)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// waitLag waits until a read at t may start: every segment that can hold
// a change counted at t is stored by t + lag (docs/DESIGN.md §10.4).
func (r *Reader) waitLag(ctx context.Context, st *State, t time.Time) error {
	until := t.Add(st.Desc.Lag() + r.Skew)
	d := until.Sub(r.clock().Now())
	if d <= 0 {
		return nil
	}
	if r.Wait != nil {
		r.Wait(until)
	}
	return r.clock().Sleep(ctx, d)
}

// mergePlan reads the spans of a plan.
func (r *Reader) mergePlan(ctx context.Context, st *State, plan []span, lo, hi string, tmax time.Time, late bool, rs *ReadStats, fn func([]Record, time.Time) error) error {
	g, gctx := errgroup.WithContext(ctx)
	var cursors []*cursor
	var baseAt time.Time
	lag := st.Desc.Lag()
	for _, sp := range plan {
		if sp.out != nil {
			if sp.base {
				baseAt = sp.out.To
			}
			c := r.outputCursor(gctx, g, *sp.out, sp, lo, hi, lag, rs)
			cursors = append(cursors, c)
			continue
		}
		segs, err := st.segments(ctx, r.Bucket, sp.Lo, sp.Hi)
		if err != nil {
			return err
		}
		if len(segs) <= r.fanIn() {
			// A reader whose fan-in is beyond FanIn (a compaction's) reads
			// each segment lean, its bytes fetched prefetchAtOnce at a time ahead
			// of it rather than over a connection of its own.
			if r.fanIn() > FanIn {
				pre := r.prefetch(gctx, g, segs)
				cursors = append(cursors, r.groupCursors(gctx, g, segs, pre, sp, lo, hi, lag, late, tmax, rs)...)
				continue
			}
			for _, o := range segs {
				cursors = append(cursors, r.segmentCursor(gctx, g, o, sp, lo, hi, lag, late, tmax, rs))
			}
			continue
		}
		// More segments than a merge reads at once: each FanIn of them are
		// merged into a local file first, so memory stays bounded by the
		// fan-in, whatever the number of segments.
		spilled, err := r.spill(ctx, segs, sp, lo, hi, lag, late, tmax, rs)
		defer func() {
			for _, f := range spilled {
				os.Remove(f)
			}
		}()
		if err != nil {
			return err
		}
		for _, f := range spilled {
			cursors = append(cursors, fileCursor(gctx, g, f, rs))
		}
	}
	g.Go(func() error { return mergeCursors(gctx, cursors, baseAt, fn) })
	return g.Wait()
}

// cursor is one sorted run being read: batches arrive from a goroutine
// that reads and decodes the run's objects ahead of the merge.
type cursor struct {
	ch   chan batch
	cur  batch
	i    int
	done chan struct{}
	base bool
	// lean reads with small buffers and batches: one of many segments
	// merged at once (a compaction's), whose memory adds up.
	lean bool
	// head is idHead of the current record's id (cursorHeap).
	head uint64
	// pull, when set, is decoded by next itself, into cur (reused: its
	// reader takes copies of the records), not sent by a goroutine: a
	// segment of a group merge (groupCursor).
	pull *lineReader
}

func newCursor() *cursor { return &cursor{ch: make(chan batch, 2), done: make(chan struct{})} }

func newLeanCursor() *cursor {
	return &cursor{ch: make(chan batch, 1), done: make(chan struct{}), lean: true}
}

// sizes are a cursor's read buffer, batch length and arena size.
func (c *cursor) sizes() (buf, batchLen, arena int) {
	if c.lean {
		return 4 << 10, 32, 16 << 10
	}
	return 32 << 10, batchSize, 64 << 10
}

func (c *cursor) stop() {
	select {
	case <-c.done:
	default:
		close(c.done)
	}
}

// next makes c.cur[c.i] the next record; false at the end.
func (c *cursor) next(ctx context.Context) (bool, error) {
	c.i++
	for c.i >= len(c.cur) {
		if c.pull != nil {
			if c.pull.done {
				return false, nil
			}
			b, err := c.pull.fill(c.cur[:0])
			if err != nil {
				return false, err
			}
			c.cur, c.i = b, 0
			continue
		}
		select {
		case b, ok := <-c.ch:
			if !ok {
				return false, nil
			}
			c.cur, c.i = b, 0
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	c.head = idHead(c.cur[c.i].ID)
	return true, nil
}

func (c *cursor) rec() *Record { return &c.cur[c.i] }

// send hands a batch to the merge, or gives up when it stopped.
func (c *cursor) send(ctx context.Context, b batch) error {
	select {
	case c.ch <- b:
		return nil
	case <-c.done:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errStopped = fmt.Errorf("merge stopped")

// fill runs fn, which sends c's batches, in g, and ends c when it returns;
// a merge that stopped taking batches is no error.
func (c *cursor) fill(g *errgroup.Group, fn func() error) {
	g.Go(func() error {
		defer close(c.ch)
		if err := fn(); err != errStopped {
			return err
		}
		return nil
	})
}

const batchSize = 128

// outputCursor reads the parts of an output (or base) that hold ids in
// [lo, hi), keeping the records of the span's times.
func (r *Reader) outputCursor(ctx context.Context, g *errgroup.Group, o output, sp span, lo, hi string, lag time.Duration, rs *ReadStats) *cursor {
	c := newCursor()
	c.base = sp.base
	c.fill(g, func() error {
		m, err := readManifest(ctx, r.Bucket, o.manifestKey())
		if err != nil {
			return fmt.Errorf("journal output %s: %w", o.Folder, err)
		}
		rs.Objects.Add(1)
		lo64, hi64 := sp.Lo.UnixMilli(), sp.Hi.UnixMilli()
		keep := func(rec *Record) bool {
			if sp.base {
				return true
			}
			e := rec.Effective(lag)
			return e > lo64 && e <= hi64
		}
		var parts []Part
		for _, p := range m.Files {
			if (hi == "" || p.FirstID < hi) && p.LastID >= lo {
				parts = append(parts, p)
			}
		}
		return r.readParts(ctx, c, o.Folder, parts, lo, hi, keep, rs)
	})
	return c
}

// partsAhead is how many parts of one output are read at once: the next
// part is fetched and decoded while the merge takes the current one.
const partsAhead = 2

// readParts reads an output's parts into c in order, partsAhead at once,
// each into a cursor of its own that c forwards.
func (r *Reader) readParts(ctx context.Context, c *cursor, folder string, parts []Part, lo, hi string, keep func(*Record) bool, rs *ReadStats) error {
	g, gctx := errgroup.WithContext(ctx)
	subs := make([]*cursor, len(parts))
	for i := range subs {
		subs[i] = &cursor{ch: make(chan batch, 2), done: c.done}
	}
	sem := make(chan struct{}, partsAhead)
	g.Go(func() error {
		for i, p := range parts {
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
				return nil
			case <-c.done:
				return nil
			}
			rs.Objects.Add(1)
			subs[i].fill(g, func() error {
				defer func() { <-sem }()
				return r.readPart(gctx, subs[i], folder, p, lo, hi, keep, rs)
			})
		}
		return nil
	})
	g.Go(func() error {
		for _, sub := range subs {
			for {
				var b batch
				var ok bool
				select {
				case b, ok = <-sub.ch:
				case <-gctx.Done():
					return nil
				}
				if !ok {
					break
				}
				if err := c.send(gctx, b); err != nil {
					if err == errStopped {
						return nil
					}
					return err
				}
			}
		}
		return nil
	})
	return g.Wait()
}

// segmentCursor reads one segment, keeping the changes whose effective
// time is in the span, and counting as late those made by tmax whose
// segment came too late for it.
func (r *Reader) segmentCursor(ctx context.Context, g *errgroup.Group, o Object, sp span, lo, hi string, lag time.Duration, countLate bool, tmax time.Time, rs *ReadStats) *cursor {
	return r.segmentCursorFrom(ctx, g, o, nil, false, sp, lo, hi, lag, countLate, tmax, rs)
}

// segmentCursorFrom is segmentCursor reading the segment from pre, when
// set (its bytes fetched ahead), else from the bucket.
func (r *Reader) segmentCursorFrom(ctx context.Context, g *errgroup.Group, o Object, pre *prefetched, lean bool, sp span, lo, hi string, lag time.Duration, countLate bool, tmax time.Time, rs *ReadStats) *cursor {
	c := newCursor()
	if lean {
		c = newLeanCursor()
	}
	c.fill(g, func() error {
		rs.Objects.Add(1)
		rs.Segments.Add(1)
		keep := segmentKeep(sp, lag, countLate, tmax, rs)
		if pre != nil {
			body, err := pre.wait(ctx)
			if err != nil {
				return err
			}
			return r.readBody(ctx, c, io.NopCloser(bytes.NewReader(body)), o.Key, o.LastModified.UnixMilli(), lo, hi, keep, rs)
		}
		return r.readRun(ctx, c, o.Key, o.LastModified.UnixMilli(), lo, hi, keep, rs)
	})
	return c
}

// segmentKeep keeps a segment's changes whose effective time is in the
// span, counting as late those made by tmax whose segment came too late
// for it.
func segmentKeep(sp span, lag time.Duration, countLate bool, tmax time.Time, rs *ReadStats) func(*Record) bool {
	lo64, hi64, t64 := sp.Lo.UnixMilli(), sp.Hi.UnixMilli(), tmax.UnixMilli()
	return func(rec *Record) bool {
		e := rec.Effective(lag)
		if countLate && rec.TimeMs <= t64 && e > t64 {
			rs.Late.Add(1)
		}
		return e > lo64 && e <= hi64
	}
}

// segmentGroups is how many goroutines read a compaction's segments:
// each merges its share of them (a heap over their decoders, each
// segment read lean) into one sorted run for the merge. A goroutine per
// segment would put hundreds of them in the scheduler's queue, and the
// merge and the compressors would wait behind them for a core.
const segmentGroups = 8

// groupCursors reads segs, whose bytes pre fetches ahead, as
// segmentGroups sorted runs.
func (r *Reader) groupCursors(ctx context.Context, g *errgroup.Group, segs []Object, pre []*prefetched, sp span, lo, hi string, lag time.Duration, countLate bool, tmax time.Time, rs *ReadStats) []*cursor {
	var out []*cursor
	n := (len(segs) + segmentGroups - 1) / segmentGroups
	for i := 0; i < len(segs); i += n {
		j := min(i+n, len(segs))
		out = append(out, r.groupCursor(ctx, g, segs[i:j], pre[i:j], sp, lo, hi, lag, countLate, tmax, rs))
	}
	return out
}

// groupCursor merges segs by id into one run, in one goroutine.
func (r *Reader) groupCursor(ctx context.Context, g *errgroup.Group, segs []Object, pre []*prefetched, sp span, lo, hi string, lag time.Duration, countLate bool, tmax time.Time, rs *ReadStats) *cursor {
	c := newCursor()
	c.fill(g, func() error {
		keep := segmentKeep(sp, lag, countLate, tmax, rs)
		buf, batchLen, arena := (&cursor{lean: true}).sizes()
		runs := make(cursorHeap, 0, len(segs))
		for i, o := range segs {
			rs.Objects.Add(1)
			rs.Segments.Add(1)
			body, err := pre[i].wait(ctx)
			if err != nil {
				return err
			}
			pre[i].body = nil // the segment's reader holds it until its end, no longer
			zr, err := gzip.NewReader(bufio.NewReaderSize(bytes.NewReader(body), buf))
			if err != nil {
				return fmt.Errorf("journal object s3://%s/%s is not gzip: %w", r.Bucket.Name(), o.Key, err)
			}
			s := &cursor{pull: newLineReader(zr, buf, arena, "s3://"+r.Bucket.Name()+"/"+o.Key, o.LastModified.UnixMilli(), lo, hi, keep, rs),
				cur: make(batch, 0, batchLen), i: -1}
			if ok, err := s.next(ctx); err != nil {
				return err
			} else if ok {
				runs = append(runs, s)
			}
		}
		runs.init()
		b := make(batch, 0, batchSize)
		for len(runs) > 0 {
			s := runs[0]
			b = append(b, *s.rec())
			ok, err := s.next(ctx)
			if err != nil {
				return err
			}
			if ok {
				runs.down(0)
			} else {
				runs.popTop()
			}
			if len(b) == cap(b) {
				if err := c.send(ctx, b); err != nil {
					return err
				}
				b = make(batch, 0, batchSize)
			}
		}
		if len(b) > 0 {
			return c.send(ctx, b)
		}
		return nil
	})
	return c
}

// prefetched is an object's bytes being read ahead of its merge.
type prefetched struct {
	done chan struct{}
	body []byte
	err  error
}

func (p *prefetched) wait(ctx context.Context) ([]byte, error) {
	select {
	case <-p.done:
		return p.body, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// prefetch reads segs' bytes in g, prefetchAtOnce at a time: the next
// FanIn segments of a spill are fetched while the current ones merge, so
// the merge does not wait for S3 between groups. A group's segments are
// small (a stream batch, compressed), so memory holds little more.
func (r *Reader) prefetch(ctx context.Context, g *errgroup.Group, segs []Object) []*prefetched {
	out := make([]*prefetched, len(segs))
	for i := range out {
		out[i] = &prefetched{done: make(chan struct{})}
	}
	g.Go(func() error {
		sem := make(chan struct{}, prefetchAtOnce)
		var wg sync.WaitGroup
		defer wg.Wait()
		for i, o := range segs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				for _, p := range out[i:] {
					p.err = ctx.Err()
					close(p.done)
				}
				return nil
			}
			wg.Go(func() {
				defer func() { <-sem }()
				p := out[i]
				p.body, p.err = readAll(ctx, r.Bucket, o.Key)
				if p.err != nil {
					p.err = fmt.Errorf("journal: %w", p.err)
				}
				close(p.done)
			})
		}
		return nil
	})
	return out
}

// prefetchAtOnce is how many segments prefetch reads at once.
const prefetchAtOnce = 128

// readRun reads one gzip JSON-lines object into c, in batches. stored,
// when not 0, is the object's store time, given to its records.
func (r *Reader) readRun(ctx context.Context, c *cursor, key string, stored int64, lo, hi string, keep func(*Record) bool, rs *ReadStats) error {
	rc, err := r.Bucket.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return r.readBody(ctx, c, rc, key, stored, lo, hi, keep, rs)
}

// readBody is readRun's reading of the object key's body rc, which it
// closes.
func (r *Reader) readBody(ctx context.Context, c *cursor, rc io.ReadCloser, key string, stored int64, lo, hi string, keep func(*Record) bool, rs *ReadStats) error {
	defer rc.Close()
	buf, _, _ := c.sizes()
	zr, err := gzip.NewReader(bufio.NewReaderSize(rc, buf))
	if err != nil {
		return fmt.Errorf("journal object s3://%s/%s is not gzip: %w", r.Bucket.Name(), key, err)
	}
	return readLines(ctx, c, zr, "s3://"+r.Bucket.Name()+"/"+key, stored, lo, hi, keep, rs)
}

// readLines reads JSON lines of records into c, in batches.
func readLines(ctx context.Context, c *cursor, rd io.Reader, where string, stored int64, lo, hi string, keep func(*Record) bool, rs *ReadStats) error {
	bufSize, batchLen, arenaSize := c.sizes()
	l := newLineReader(rd, bufSize, arenaSize, where, stored, lo, hi, keep, rs)
	for {
		b, err := l.fill(make(batch, 0, batchLen))
		if err != nil {
			return err
		}
		if len(b) > 0 {
			if err := c.send(ctx, b); err != nil {
				return err
			}
		}
		if l.done {
			return nil
		}
	}
}

// lineReader decodes one sorted run's JSON lines into records, a batch
// at a time: pushed to a cursor by readLines, or pulled by a group merge
// (groupCursor).
type lineReader struct {
	br        *bufio.Reader
	where     string
	stored    int64
	lo, hi    string
	keep      func(*Record) bool
	rs        *ReadStats
	arena     []byte
	arenaSize int
	line      int
	prev      string
	done      bool
}

func newLineReader(rd io.Reader, bufSize, arenaSize int, where string, stored int64, lo, hi string, keep func(*Record) bool, rs *ReadStats) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(rd, bufSize), where: where, stored: stored, lo: lo, hi: hi, keep: keep, rs: rs, arenaSize: arenaSize}
}

// fill appends the next records kept to b, up to its capacity; done is
// set at the run's end (or past hi).
func (l *lineReader) fill(b batch) (batch, error) {
	// Counted once a batch: many readers adding to one counter per
	// record would share its cache line.
	var records int64
	defer func() { l.rs.Records.Add(records) }()
	for !l.done && len(b) < cap(b) {
		ln, err := l.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer (a 400 KB item): gather it.
			big := append([]byte(nil), ln...)
			for err == bufio.ErrBufferFull {
				ln, err = l.br.ReadSlice('\n')
				big = append(big, ln...)
			}
			ln = big
		}
		if err != nil && err != io.EOF {
			return b, fmt.Errorf("read journal object %s: %w", l.where, err)
		}
		if err == io.EOF {
			l.done = true
		}
		if len(ln) == 0 {
			continue
		}
		l.line++
		if len(l.arena)+len(ln) > cap(l.arena) {
			l.arena = make([]byte, 0, max(l.arenaSize, len(ln)))
		}
		start := len(l.arena)
		l.arena = append(l.arena, ln...)
		rec, perr := parseLine(l.arena[start:])
		if perr != nil {
			return b, fmt.Errorf("journal object %s line %d: %w", l.where, l.line, perr)
		}
		if rec.ID < l.prev {
			return b, fmt.Errorf("journal object %s line %d: id %s is out of order (after %s)", l.where, l.line, rec.ID, l.prev)
		}
		l.prev = rec.ID
		if l.stored != 0 {
			rec.StoredMs = l.stored
		}
		records++
		if l.hi != "" && rec.ID >= l.hi {
			l.done = true
			break
		}
		if rec.ID >= l.lo && l.keep(&rec) {
			b = append(b, rec)
		}
	}
	return b, nil
}

// cursorHeap is a min-heap of cursors by their current id, written out
// rather than through container/heap: a merge sifts it for every record,
// and the interface calls and whole-id comparisons were about a tenth of a
// compaction's CPU. Ids are compared by their first 8 bytes (cursor.head)
// and only on a tie by the whole string.
type cursorHeap []*cursor

func (h cursorHeap) less(i, j int) bool {
	a, b := h[i], h[j]
	if a.head != b.head {
		return a.head < b.head
	}
	return a.rec().ID < b.rec().ID
}

func (h cursorHeap) down(i int) {
	for n := len(h); ; {
		j := 2*i + 1
		if j >= n {
			return
		}
		if r := j + 1; r < n && h.less(r, j) {
			j = r
		}
		if !h.less(j, i) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

func (h cursorHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// popTop removes the least cursor.
func (h *cursorHeap) popTop() {
	old := *h
	n := len(old) - 1
	old[0], old[n] = old[n], nil
	*h = old[:n]
	h.down(0)
}

// idHead is the first 8 bytes of id as a big-endian number (zeros after a
// shorter id): ids whose heads differ compare as their heads do.
func idHead(id string) uint64 {
	var h uint64
	for i := range 8 {
		h <<= 8
		if i < len(id) {
			h |= uint64(id[i])
		}
	}
	return h
}

// mergeCursors is the k-way merge: for each id, the records of every run,
// in the order they were made, duplicates dropped. It stops every cursor
// when it returns, so the goroutines reading them end however it ended.
func mergeCursors(ctx context.Context, cursors []*cursor, baseAt time.Time, fn func([]Record, time.Time) error) error {
	defer func() {
		for _, c := range cursors {
			c.stop()
		}
	}()
	h := make(cursorHeap, 0, len(cursors))
	for _, c := range cursors {
		c.i = -1
		ok, err := c.next(ctx)
		if err != nil {
			return err
		}
		if ok {
			h = append(h, c)
		}
	}
	h.init()
	var group []Record
	for len(h) > 0 {
		id, idh := h[0].rec().ID, h[0].head
		group = group[:0]
		inBase := false
		for len(h) > 0 && h[0].head == idh && h[0].rec().ID == id {
			c := h[0]
			inBase = inBase || c.base
			for {
				group = append(group, *c.rec())
				group[len(group)-1].fromBase = c.base
				ok, err := c.next(ctx)
				if err != nil {
					return err
				}
				if !ok {
					h.popTop()
					break
				}
				if c.head != idh || c.rec().ID != id {
					h.down(0)
					break
				}
			}
		}
		var bt time.Time
		if inBase {
			bt = baseAt
		}
		g := orderGroup(group)
		if err := fn(g, bt); err != nil {
			return err
		}
	}
	return nil
}

// orderGroup sorts one id's records in the order they were made and drops
// a change delivered twice (the copy stored first stays).
func orderGroup(g []Record) []Record {
	if len(g) < 2 {
		return g
	}
	slices.SortStableFunc(g, func(a, b Record) int { return order(&a, &b) })
	out := g[:0]
	for i := range g {
		if n := len(out); n > 0 && same(&out[n-1], &g[i]) {
			if g[i].StoredMs != 0 && (out[n-1].StoredMs == 0 || g[i].StoredMs < out[n-1].StoredMs) {
				out[n-1].StoredMs = g[i].StoredMs
			}
			out[n-1].fromBase = out[n-1].fromBase || g[i].fromBase
			continue
		}
		out = append(out, g[i])
	}
	return out
}

// emitGroup hands one id's records to a history fold as entries, newest
// first. An entry's time is the record's effective time; a base's records
// count from the base's time at the latest (a backfill read its items
// after the time its base stands for).
func emitGroup(dir string, g []Record, base time.Time, lag time.Duration, fn func(history.Entry) error) error {
	for i := len(g) - 1; i >= 0; i-- {
		rec := &g[i]
		e := time.UnixMilli(foldTime(rec, base, lag)).UTC()
		ent := history.Entry{Key: dir + rec.ID, VersionID: versionID(rec), LastModified: e, IsDelete: rec.IsDelete(), IsLatest: i == len(g)-1,
			Expired: rec.IsDelete() && rec.TTL}
		if !ent.IsDelete {
			ent.Body = rec.NewImage
			ent.Size = int64(len(rec.NewImage))
		}
		if err := fn(ent); err != nil {
			return err
		}
	}
	return nil
}

// foldTime is a record's time for the fold, Unix ms: its effective time,
// but a backfill image counts from its base's time at the latest (the
// Scan read it after the time the base stands for).
func foldTime(r *Record, base time.Time, lag time.Duration) int64 {
	e := r.Effective(lag)
	if r.Event == EventBackfill && !base.IsZero() {
		e = min(e, base.UnixMilli())
	}
	return e
}

// versionID names a record where a version id would name a version (a
// sidecar line, history's list): its sequence number, or for a backfill
// image the time it was read.
func versionID(r *Record) string {
	if r.Seq != "" {
		return "seq:" + r.Seq
	}
	return "backfill:" + strconv.FormatInt(r.TimeMs, 10)
}

// spill merges segments, FanIn at a time, into local sorted files (the
// records kept by the span, duplicates dropped, store times set), and
// returns their names; the caller removes them. With more than FanIn
// files, it merges the files again.
func (r *Reader) spill(ctx context.Context, segs []Object, sp span, lo, hi string, lag time.Duration, late bool, tmax time.Time, rs *ReadStats) ([]string, error) {
	var files []string
	fan := r.fanIn()
	// Each group after the first is fetched while the one before merges.
	pctx, cancel := context.WithCancel(ctx)
	pg, pctx := errgroup.WithContext(pctx)
	defer func() {
		cancel()
		pg.Wait()
	}()
	var next []*prefetched
	for i := 0; i < len(segs); i += fan {
		group := segs[i:min(i+fan, len(segs))]
		pre := next
		if j := i + fan; j < len(segs) {
			next = r.prefetch(pctx, pg, segs[j:min(j+fan, len(segs))])
		}
		name, err := spillGroup(ctx, func(gctx context.Context, g *errgroup.Group) []*cursor {
			var cs []*cursor
			for k, o := range group {
				var p *prefetched
				if pre != nil {
					p = pre[k]
				}
				cs = append(cs, r.segmentCursorFrom(gctx, g, o, p, false, sp, lo, hi, lag, late, tmax, rs))
			}
			return cs
		})
		if name != "" {
			files = append(files, name)
		}
		if err != nil {
			return files, err
		}
	}
	for len(files) > fan {
		var next []string
		for i := 0; i < len(files); i += fan {
			group := files[i:min(i+fan, len(files))]
			name, err := spillGroup(ctx, func(gctx context.Context, g *errgroup.Group) []*cursor {
				var cs []*cursor
				for _, f := range group {
					cs = append(cs, fileCursor(gctx, g, f, rs))
				}
				return cs
			})
			for _, f := range group {
				os.Remove(f)
			}
			if name != "" {
				next = append(next, name)
			}
			if err != nil {
				return append(next, files[i+len(group):]...), err
			}
		}
		files = next
	}
	return files, nil
}

// spillGroup merges the cursors open makes into one local file.
func spillGroup(ctx context.Context, open func(context.Context, *errgroup.Group) []*cursor) (string, error) {
	f, err := os.CreateTemp("", "dynasnap-journal-*.jsonl")
	if err != nil {
		return "", fmt.Errorf("journal: a local file for merging segments: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 256<<10)
	g, gctx := errgroup.WithContext(ctx)
	cursors := open(gctx, g)
	var line []byte
	g.Go(func() error {
		return mergeCursors(gctx, cursors, time.Time{}, func(recs []Record, _ time.Time) error {
			for i := range recs {
				line = recs[i].appendRaw(line[:0])
				if _, err := w.Write(line); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err := g.Wait(); err != nil {
		return f.Name(), err
	}
	if err := w.Flush(); err != nil {
		return f.Name(), fmt.Errorf("journal: write %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

// fileCursor reads a local file spill wrote.
func fileCursor(ctx context.Context, g *errgroup.Group, name string, rs *ReadStats) *cursor {
	c := newCursor()
	c.fill(g, func() error {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		defer f.Close()
		return readLines(ctx, c, f, name, 0, "", "", func(*Record) bool { return true }, rs)
	})
	return c
}
