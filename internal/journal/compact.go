package journal

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// CompactFanIn is the most segments a compaction merges at once, each
// read lean (small buffers and batches, its bytes fetched ahead): a
// compaction of up to this many segments writes no local file, and its
// memory is bounded by this fan-in, not by the number of segments.
const CompactFanIn = 1024

// Default compaction settings (docs/DESIGN.md §10.6).
var (
	DefaultIntervals   = []time.Duration{time.Minute, time.Hour}
	DefaultBaseEvery   = 24 * time.Hour
	DefaultDeleteDelay = time.Hour
)

// Compactor merges a journal's segments into level outputs of growing
// time windows and writes bases (docs/DESIGN.md §10.6). Two compactors may
// run at once: a window's output is one folder whose manifest is written
// with If-None-Match, so the first to finish wins and the other's parts are
// never read; inputs are deleted only when outputs older than DeleteDelay
// cover them.
type Compactor struct {
	Bucket Bucket
	Dir    string // the table folder, "prefix/table/"
	// Intervals are the levels' windows, level 1 first, each a multiple
	// of the one before; outputs end on their boundaries (UTC).
	Intervals []time.Duration
	// BaseEvery is how often a base (the state) is written; 0: never.
	BaseEvery time.Duration
	// KeepBases is how many of the newest bases are kept besides the
	// first (0: all): another only speeds up reads of old times, which the
	// first base and the level outputs (the top level is never deleted)
	// answer too.
	KeepBases   int
	DeleteDelay time.Duration
	// Shard, Shards: this run's block of the id space (Shards <= 1: all).
	// An output is finished by the shard that writes the last shard
	// manifest.
	Shard, Shards int
	Lo, Hi        string // the shard's id interval ("" open)
	PartBytes     int64
	Skew          time.Duration
	Clock         Clock
	Tool          string
	// Progress, if set, is told of each step.
	Progress func(format string, args ...any)
	// KeepExact and KeepHourly are the tiered retention (retention.go):
	// 0 keeps every change.
	KeepExact, KeepHourly time.Duration
	// NoExport leaves out a base's export files (export.go), which a
	// snapshot at the base's time copies.
	NoExport bool
}

// OutputReport is one output a run wrote its share of.
type OutputReport struct {
	Kind     string    `json:"kind"` // "level" or "base"
	Level    int       `json:"level,omitempty"`
	From     time.Time `json:"from,omitzero"`
	To       time.Time `json:"to"`
	Records  int64     `json:"records"`
	Parts    int       `json:"parts"`
	Finished bool      `json:"finished"` // the manifest exists (false: other shards must finish)
	// PrecisionSeconds is set on a thinned output (retention.go).
	PrecisionSeconds int64 `json:"precisionSeconds,omitempty"`
}

// Report is what a compaction did.
type Report struct {
	Outputs         []OutputReport `json:"outputs"`
	SegmentsRead    int64          `json:"segmentsRead"`
	RecordsRead     int64          `json:"recordsRead"`
	ObjectsRead     int64          `json:"objectsRead"`
	SegmentsDeleted int            `json:"segmentsDeleted"`
	OutputsDeleted  int            `json:"outputsDeleted"`
	BasesDeleted    int            `json:"basesDeleted"`
	Covered         time.Time      `json:"coveredUntil"`
}

func (c *Compactor) clock() Clock {
	if c.Clock == nil {
		return realClock{}
	}
	return c.Clock
}

func (c *Compactor) say(format string, args ...any) {
	if c.Progress != nil {
		c.Progress(format, args...)
	}
}

// Run compacts what is ready: every level's windows that ended more than
// the lag (and the skew) ago, then a base, then deletes covered inputs.
func (c *Compactor) Run(ctx context.Context) (*Report, error) {
	if len(c.Intervals) == 0 {
		c.Intervals = DefaultIntervals
	}
	for i, iv := range c.Intervals {
		if iv < time.Second || (i > 0 && iv%c.Intervals[i-1] != 0) {
			return nil, fmt.Errorf("compaction intervals %v: each must be at least 1s and a multiple of the one before", c.Intervals)
		}
	}
	st, err := LoadState(ctx, c.Bucket, c.Dir)
	if err != nil {
		return nil, err
	}
	if err := st.checkWindow(); err != nil { // fromitems.go
		return nil, err
	}
	rep := &Report{Outputs: []OutputReport{}}
	run := newRunID()
	ready := c.clock().Now().Add(-st.Desc.Lag() - c.Skew)
	outs := c.due(st, ready)
	if len(outs) > 0 {
		for _, o := range outs {
			if o.level > 0 {
				c.say("level %d: changes in (%s, %s]", o.level, fmtTime(o.from), fmtTime(o.to))
			} else {
				c.say("base at %s", fmtTime(o.to))
			}
		}
		if err := c.writePass(ctx, st, run, outs, rep); err != nil {
			return rep, err
		}
		if st, err = LoadState(ctx, c.Bucket, c.Dir); err != nil {
			return rep, err
		}
	}
	if st, err = c.retain(ctx, st, run, rep); err != nil { // retention.go
		return rep, fmt.Errorf("retention: %w", err)
	}
	rep.Covered = st.Covered()
	if c.Shards <= 1 || c.Shard == 0 {
		if err := c.deleteCovered(ctx, st, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func fmtTime(t time.Time) string {
	if t.Equal(epoch) {
		return "the start"
	}
	return t.UTC().Format(time.RFC3339)
}

// passOutput is one output a compaction pass writes its share of: a level
// window (from, to] or, with level 0, the base at to (after the base at
// from, or none).
type passOutput struct {
	level    int
	from, to time.Time
	hasBase  bool // level 0: a base at from is read
	w        *partWriter
}

// due lists what is ready (docs/DESIGN.md §10.6): each level's window,
// the widest level first, each starting where the levels at and above it
// reach once the wider ones are written, so that one run writes a change
// into one level output, never into one a wider level merges again at
// once; then the base, if its time is covered by then.
func (c *Compactor) due(st *State, ready time.Time) []passOutput {
	var outs []passOutput
	reach := epoch // where the wider windows of this run end
	covered := st.Covered()
	for i := len(c.Intervals) - 1; i >= 0; i-- {
		level := i + 1
		end := ready.Truncate(c.Intervals[i]).UTC()
		from := maxTime(st.from(level), reach)
		if !end.After(from) {
			continue
		}
		outs = append(outs, passOutput{level: level, from: from, to: end})
		reach = end
		covered = maxTime(covered, end)
	}
	if c.BaseEvery > 0 {
		at := ready.Truncate(c.BaseEvery).UTC()
		prev, has := epoch, len(st.Bases) > 0
		if has {
			prev = st.Bases[len(st.Bases)-1].To
		}
		if at.After(prev) && !covered.Before(at) {
			outs = append(outs, passOutput{from: prev, to: at, hasBase: has})
		}
	}
	return outs
}

// passPlan is what one pass reads: for each level window, the levels
// below it and the segments (§10.5's plan, limited to them); for the
// base, the base before it and the rest of its changes from any level.
// Adjacent segment spans are one, so a segment is read once a pass.
func passPlan(st *State, outs []passOutput) []span {
	var plan []span
	type window struct {
		from, to time.Time
		max      int
	}
	var ws []window
	var base *passOutput
	for i := range outs {
		if outs[i].level > 0 {
			ws = append(ws, window{outs[i].from, outs[i].to, outs[i].level - 1})
		} else {
			base = &outs[i]
		}
	}
	slices.SortFunc(ws, func(a, b window) int { return a.from.Compare(b.from) })
	var lo, hi time.Time
	if len(ws) > 0 {
		lo, hi = ws[0].from, ws[len(ws)-1].to
	}
	if base != nil {
		full := st.Plan(base.to, base.to, true)
		if len(full) > 0 && full[0].base {
			plan = append(plan, full[0])
		}
		if len(ws) == 0 || base.from.Before(lo) {
			lo = base.from
		}
		hi = maxTime(hi, base.to)
	}
	add := func(sp []span) {
		for _, s := range sp {
			if n := len(plan); n > 0 && s.out == nil && plan[n-1].out == nil && plan[n-1].Hi.Equal(s.Lo) {
				plan[n-1].Hi = s.Hi
				continue
			}
			plan = append(plan, s)
		}
	}
	for p := lo; p.Before(hi); {
		i := slices.IndexFunc(ws, func(w window) bool { return !w.from.After(p) && w.to.After(p) })
		if i >= 0 {
			add(st.planRange(p, ws[i].to, ws[i].max))
			p = ws[i].to
			continue
		}
		next := hi
		for _, w := range ws {
			if w.from.After(p) && w.from.Before(next) {
				next = w.from
			}
		}
		if base != nil && p.Before(base.to) {
			// Only the base needs these changes.
			next = minTime(next, base.to)
			add(st.planRange(p, next, -1))
		}
		p = next
	}
	return plan
}

// writePass writes this run's share of outs in one merge of their inputs:
// each change read once, routed by its effective time to the level
// window that holds it, and folded into the base.
func (c *Compactor) writePass(ctx context.Context, st *State, run string, outs []passOutput, rep *Report) error {
	lag := st.Desc.Lag()
	var hi time.Time
	for i := range outs {
		o := &outs[i]
		folder := baseFolderAt(c.Dir, o.to)
		if o.level > 0 {
			folder = levelFolder(c.Dir, o.level, o.from, o.to)
		}
		o.w = newPartWriter(c.Bucket, folder, run, c.shardIndex(), c.PartBytes)
		if o.level == 0 && !c.NoExport {
			o.w.export = &exportSpec{dir: c.Dir, at: o.to, lag: lag}
		}
		hi = maxTime(hi, o.to)
	}
	r := &Reader{Bucket: c.Bucket, FanIn: CompactFanIn}
	var rs ReadStats
	err := r.mergePlan(ctx, st, passPlan(st, outs), c.Lo, c.Hi, hi, false, &rs, func(g []Record, bt time.Time) error {
		for i := range outs {
			o := &outs[i]
			if o.level == 0 {
				if rec := o.stateAt(g, bt, lag); rec != nil {
					if err := o.w.add(ctx, rec); err != nil {
						return err
					}
				}
				continue
			}
			from, to := o.from.UnixMilli(), o.to.UnixMilli()
			for j := range g {
				if g[j].fromBase {
					continue
				}
				if e := g[j].Effective(lag); e > from && e <= to {
					if err := o.w.add(ctx, &g[j]); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	c.count(rep, &rs)
	if err != nil {
		return fmt.Errorf("compact %s: %w", describe(outs), err)
	}
	// The outputs' last parts are compressed and stored at once, then the
	// manifests in the order of the outputs: a base finished by this run
	// follows the level outputs it is covered by.
	g, gctx := errgroup.WithContext(ctx)
	for i := range outs {
		g.Go(func() error { return outs[i].w.flush(gctx) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("compact %s: %w", describe(outs), err)
	}
	for i := range outs {
		o := &outs[i]
		m := Manifest{Kind: kindBase, To: o.to, Tool: c.Tool}
		or := OutputReport{Kind: kindBase, To: o.to}
		if o.level > 0 {
			f := o.from
			m = Manifest{Kind: kindLevel, Level: o.level, From: &f, To: o.to, Tool: c.Tool}
			or = OutputReport{Kind: kindLevel, Level: o.level, From: o.from, To: o.to}
		}
		done, err := o.w.finish(ctx, c.Shards, m)
		if err != nil {
			return fmt.Errorf("compact %s: %w", describe(outs[i:i+1]), err)
		}
		if o.w.exportErr != nil {
			c.say("%s: no export files (a snapshot at its time reads it instead): %v", describe(outs[i:i+1]), o.w.exportErr)
		}
		or.Records, or.Parts, or.Finished = o.w.total, len(o.w.parts), done
		rep.Outputs = append(rep.Outputs, or)
	}
	return nil
}

func describe(outs []passOutput) string {
	var d []string
	for _, o := range outs {
		if o.level > 0 {
			d = append(d, fmt.Sprintf("level %d (%s, %s]", o.level, fmtTime(o.from), fmtTime(o.to)))
		} else {
			d = append(d, "base at "+fmtTime(o.to))
		}
	}
	return strings.Join(d, ", ")
}

// stateAt is the record that holds an id's state at the base's time (nil:
// absent), by the same rule the fold applies to emitGroup's entries, from
// the base before it and the changes after that base.
func (o *passOutput) stateAt(g []Record, bt time.Time, lag time.Duration) *Record {
	t64, after := o.to.UnixMilli(), o.from.UnixMilli()
	for i := len(g) - 1; i >= 0; i-- {
		r := &g[i]
		if !r.fromBase && o.hasBase && r.Effective(lag) <= after {
			continue // in the base before, which says what it came to
		}
		if foldTime(r, bt, lag) <= t64 {
			if r.IsDelete() {
				return nil
			}
			return r
		}
	}
	return nil
}

func (c *Compactor) shardIndex() int {
	if c.Shards <= 1 {
		return 0
	}
	return c.Shard
}

func (c *Compactor) count(rep *Report, rs *ReadStats) {
	rep.ObjectsRead += rs.Objects.Load()
	rep.RecordsRead += rs.Records.Load()
	rep.SegmentsRead += rs.Segments.Load()
}

// deleteCovered deletes segments and level outputs that outputs older
// than the delete delay cover (docs/DESIGN.md §10.7): a reader that
// planned before those outputs existed has had the delay to finish.
func (c *Compactor) deleteCovered(ctx context.Context, st *State, rep *Report) error {
	cutoff := c.clock().Now().Add(-c.DeleteDelay)
	aged := &State{Dir: st.Dir, Desc: st.Desc, Outputs: map[int][]output{}}
	for l, os := range st.Outputs {
		for _, o := range os {
			if !o.Listed.After(cutoff) {
				aged.Outputs[l] = append(aged.Outputs[l], o)
			}
		}
	}
	// Segments: every change in one was made before it was stored, give
	// or take the skew between DynamoDB's and S3's clocks, so outputs
	// covering its store time and the skew hold all of it.
	covered := aged.Covered().Add(-max(c.Skew, time.Second))
	if covered.After(epoch) {
		var del []string
		err := c.Bucket.List(ctx, c.Dir+segmentFolder, "", func(o Object) bool {
			if !o.LastModified.Before(covered) {
				return false
			}
			del = append(del, o.Key)
			return true
		})
		if err != nil {
			return err
		}
		if err := deleteKeys(ctx, c.Bucket, del); err != nil {
			return err
		}
		rep.SegmentsDeleted += len(del)
		if len(del) > 0 {
			c.say("deleted %d segments that outputs cover", len(del))
		}
	}
	// Bases beyond the newest KeepBases, once the newer ones have aged;
	// never the first, which may be a backfill's: the only record of the
	// items the stream never saw, which every later time replays from.
	if k := c.KeepBases; k > 0 && len(st.Bases) > k+1 {
		newer := st.Bases[len(st.Bases)-k]
		if !newer.Listed.After(cutoff) {
			for _, o := range st.Bases[1 : len(st.Bases)-k] {
				if err := c.deleteOutput(ctx, o); err != nil {
					return err
				}
				rep.BasesDeleted++
			}
		}
	}
	// A level's outputs that the next level's aged outputs cover, or that
	// another output of their level (a concurrent run's) contains.
	levels := st.Levels()
	for _, l := range levels {
		for _, o := range st.Outputs[l] {
			if o.Listed.After(cutoff) {
				continue
			}
			if !c.redundant(aged, l, o) {
				continue
			}
			if err := c.deleteOutput(ctx, o); err != nil {
				return err
			}
			rep.OutputsDeleted++
		}
	}
	return nil
}

// redundant reports whether aged outputs other than o hold all of o's
// changes: the next level's chain reaches past it, or one output of its
// own level contains it. The top level is never redundant by the next.
func (c *Compactor) redundant(aged *State, level int, o output) bool {
	if next, ok := aged.Outputs[level+1]; ok && len(next) > 0 && !next[0].From.After(o.From) && !aged.End(level+1).Before(o.To) {
		return true
	}
	for _, p := range aged.Outputs[level] {
		if p.Folder != o.Folder && !p.From.After(o.From) && !p.To.Before(o.To) && (p.From.Before(o.From) || p.To.After(o.To) || p.Folder < o.Folder) {
			return true
		}
	}
	return false
}

// deleteOutput removes the manifest first, so no new reader takes the
// output, then its other objects.
func (c *Compactor) deleteOutput(ctx context.Context, o output) error {
	if err := c.Bucket.Delete(ctx, o.manifestKey()); err != nil {
		return err
	}
	var keys []string
	if err := c.Bucket.List(ctx, o.Folder, "", func(ob Object) bool { keys = append(keys, ob.Key); return true }); err != nil {
		return err
	}
	return deleteKeys(ctx, c.Bucket, keys)
}

// deletesAtOnce is how many deletes a compaction has in flight: a run
// deletes hundreds of segments, one request each.
const deletesAtOnce = 128

// deleteKeys deletes keys: in batches where the bucket deletes many at
// once (S3's DeleteObjects), else deletesAtOnce at a time; it stops at the
// first error (what is left is deleted by the next run).
func deleteKeys(ctx context.Context, b Bucket, keys []string) error {
	if m, ok := b.(interface {
		DeleteMany(context.Context, []string) error
	}); ok {
		return m.DeleteMany(ctx, keys)
	}
	return deleteEach(ctx, b, keys)
}

func deleteEach(ctx context.Context, b Bucket, keys []string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(deletesAtOnce)
	for _, k := range keys {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return b.Delete(gctx, k) })
	}
	return g.Wait()
}
