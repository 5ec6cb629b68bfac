package journal

import (
	"context"
	"fmt"
	"time"
)

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
	ready := c.clock().Now().Add(-st.Desc.Lag() - c.Skew)
	run := newRunID()
	for i, iv := range c.Intervals {
		level := i + 1
		end := ready.Truncate(iv).UTC()
		from := st.from(level)
		if !end.After(from) {
			continue
		}
		c.say("level %d: changes in (%s, %s]", level, fmtTime(from), fmtTime(end))
		or, err := c.writeLevel(ctx, st, run, level, from, end, rep)
		if err != nil {
			return rep, fmt.Errorf("compact level %d (%s, %s]: %w", level, fmtTime(from), fmtTime(end), err)
		}
		rep.Outputs = append(rep.Outputs, or)
		if !or.Finished {
			break // the other shards finish it; higher levels wait for it
		}
		if st, err = LoadState(ctx, c.Bucket, c.Dir); err != nil {
			return rep, err
		}
	}
	if c.BaseEvery > 0 {
		at := ready.Truncate(c.BaseEvery).UTC()
		prev := epoch
		if n := len(st.Bases); n > 0 {
			prev = st.Bases[n-1].To
		}
		if at.After(prev) && !st.Covered().Before(at) {
			c.say("base at %s", fmtTime(at))
			or, err := c.writeBase(ctx, st, run, at, rep)
			if err != nil {
				return rep, fmt.Errorf("compact base at %s: %w", fmtTime(at), err)
			}
			rep.Outputs = append(rep.Outputs, or)
			if st, err = LoadState(ctx, c.Bucket, c.Dir); err != nil {
				return rep, err
			}
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

// writeLevel writes this run's share of the level output (from, to],
// read from the levels below it and the segments.
func (c *Compactor) writeLevel(ctx context.Context, st *State, run string, level int, from, to time.Time, rep *Report) (OutputReport, error) {
	folder := levelFolder(c.Dir, level, from, to)
	w := newPartWriter(c.Bucket, folder, run, c.shardIndex(), c.PartBytes)
	r := &Reader{Bucket: c.Bucket}
	var rs ReadStats
	plan := st.planRange(from, to, level-1)
	err := r.mergePlan(ctx, st, plan, c.Lo, c.Hi, to, false, &rs, func(g []Record, _ time.Time) error {
		for i := range g {
			if err := w.add(ctx, &g[i]); err != nil {
				return err
			}
		}
		return nil
	})
	c.count(rep, &rs)
	if err != nil {
		return OutputReport{}, err
	}
	f := from
	done, err := w.finish(ctx, c.Shards, Manifest{Kind: kindLevel, Level: level, From: &f, To: to, Tool: c.Tool})
	return OutputReport{Kind: kindLevel, Level: level, From: from, To: to, Records: w.total, Parts: len(w.parts), Finished: done}, err
}

// writeBase writes this run's share of the base at: each id's state then,
// from the newest base before it and the changes after.
func (c *Compactor) writeBase(ctx context.Context, st *State, run string, at time.Time, rep *Report) (OutputReport, error) {
	folder := baseFolderAt(c.Dir, at)
	w := newPartWriter(c.Bucket, folder, run, c.shardIndex(), c.PartBytes)
	r := &Reader{Bucket: c.Bucket}
	var rs ReadStats
	plan := st.Plan(at, at, true)
	lag := st.Desc.Lag()
	err := r.mergePlan(ctx, st, plan, c.Lo, c.Hi, at, false, &rs, func(g []Record, base time.Time) error {
		if rec := stateAt(g, base, lag, at); rec != nil {
			return w.add(ctx, rec)
		}
		return nil
	})
	c.count(rep, &rs)
	if err != nil {
		return OutputReport{}, err
	}
	done, err := w.finish(ctx, c.Shards, Manifest{Kind: kindBase, To: at, Tool: c.Tool})
	return OutputReport{Kind: kindBase, To: at, Records: w.total, Parts: len(w.parts), Finished: done}, err
}

// stateAt is the record that holds an id's state at t (nil: absent), by
// the same rule the fold applies to emitGroup's entries.
func stateAt(g []Record, base time.Time, lag time.Duration, t time.Time) *Record {
	t64 := t.UnixMilli()
	for i := len(g) - 1; i >= 0; i-- {
		if foldTime(&g[i], base, lag) <= t64 {
			if g[i].IsDelete() {
				return nil
			}
			return &g[i]
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
		for _, k := range del {
			if err := c.Bucket.Delete(ctx, k); err != nil {
				return err
			}
			rep.SegmentsDeleted++
		}
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
	for _, k := range keys {
		if err := c.Bucket.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}
