package journal

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
)

// Tiered retention (docs/DESIGN.md §10.13): `compact --keep-exact D1
// --keep-hourly D2`. Changes of the last D1 are kept to the change; older
// top-level outputs are rewritten into thinned outputs that keep, per id
// and per hour, the last change (the state at every whole hour stays
// exact); once those have aged, the exact outputs they replace go; after
// D2, everything before the newest base older than D2 goes.

// hourlyFolder holds the thinned outputs: journal/hourly/<from>_<to>/.
const hourlyFolder = Folder + "hourly/"

// HourlyPrecision is the precision of a thinned output: the state at each
// multiple of it (UTC) is exact.
const HourlyPrecision = time.Hour

// noteThinned records a listed manifest of a thinned output (LoadState:
// folder is relative to journal/).
func (s *State) noteThinned(folder string, o Object) {
	rest, ok := strings.CutPrefix(folder+"/", strings.TrimPrefix(hourlyFolder, Folder))
	if !ok {
		return
	}
	a, b, cut := strings.Cut(strings.TrimSuffix(rest, "/"), "_")
	if !cut {
		return
	}
	from, err1 := parseNameTime(a)
	to, err2 := parseNameTime(b)
	if err1 != nil || err2 != nil || !from.Before(to) {
		return
	}
	s.Thinned = append(s.Thinned, output{Level: thinnedLevel, From: from, To: to, Folder: s.Dir + hourlyFolder + a + "_" + b + "/", Listed: o.LastModified})
}

// thinnedLevel marks a thinned output (it is no level of the chain).
const thinnedLevel = 1 << 20

// thinnedSpanAt is the part of a plan a thinned output answers from p
// when no exact output covers p (planRange): ok is false when none does.
func (s *State) thinnedSpanAt(p, tmax time.Time) (sp span, ok bool) {
	for i := range s.Thinned {
		o := &s.Thinned[i]
		if o.From.After(p) || !o.To.After(p) {
			continue
		}
		return span{out: o, Lo: p, Hi: minTime(o.To, tmax)}, true
	}
	return span{}, false
}

// thinnedEnd is where the thinned outputs reach from the first (the
// epoch when there are none).
func (s *State) thinnedEnd() time.Time {
	end := epoch
	for _, o := range s.Thinned {
		end = maxTime(end, o.To)
	}
	return end
}

// Retention is what a journal's files can still answer exactly: the
// thinned windows (exact only at whole hours) and the floor (nothing
// before it), worked out from the listing.
type Retention struct {
	// Thinned are the windows (From, To] of the thinned outputs, in order.
	Thinned [][2]time.Time
	// Floor is the oldest time answered: the oldest base, once retention
	// deleted the changes before it (zero: every time since the epoch).
	Floor time.Time
}

// Retention reads the retention of the journal as listed.
func (s *State) Retention() Retention {
	var r Retention
	for _, o := range s.Thinned {
		if n := len(r.Thinned); n > 0 && !o.From.After(r.Thinned[n-1][1]) {
			r.Thinned[n-1][1] = maxTime(r.Thinned[n-1][1], o.To)
			continue
		}
		r.Thinned = append(r.Thinned, [2]time.Time{o.From, o.To})
	}
	// The changes reach back to the epoch while some output starts there
	// (the top level's first one, until retention deletes it); else they
	// start at the oldest base.
	fromEpoch, any := false, false
	for _, os := range s.Outputs {
		for _, o := range os {
			any = true
			fromEpoch = fromEpoch || o.From.Equal(epoch)
		}
	}
	for _, o := range s.Thinned {
		any = true
		fromEpoch = fromEpoch || o.From.Equal(epoch)
	}
	if any && !fromEpoch && len(s.Bases) > 0 {
		r.Floor = s.Bases[0].To
	}
	return r
}

// Horizon is the journal's horizon for the time rule (docs/DESIGN.md
// §10.11, §10.13): times before the floor are refused, and inside a
// thinned window every time but a whole hour.
func (s *State) Horizon(bucket, folder string, now time.Time) *history.Horizon {
	h := &history.Horizon{Bucket: bucket, Folder: folder, Now: now, Read: true}
	r := s.Retention()
	const rule = "journal retention (compact --keep-hourly)"
	if !r.Floor.IsZero() {
		h.Limits = append(h.Limits, history.Limit{Rule: rule, From: r.Floor,
			Why: "deleted the changes before the oldest base it kept"})
	}
	for _, w := range r.Thinned {
		h.Limits = append(h.Limits, history.Limit{Rule: "journal retention (compact --keep-exact)", CoarseFrom: w[0], CoarseUntil: w[1], Every: HourlyPrecision,
			Why: fmt.Sprintf("kept only the last change of each hour from %s to %s", history.FormatTime(w[0]), history.FormatTime(w[1]))})
	}
	return h
}

// retain applies KeepExact and KeepHourly (Run, before deleteCovered).
func (c *Compactor) retain(ctx context.Context, st *State, run string, rep *Report) (*State, error) {
	if c.KeepExact <= 0 {
		return st, nil
	}
	now := c.clock().Now()
	// The top level is the widest of --intervals, not the highest level
	// listed: once its exact outputs are all replaced, a narrower level
	// would be the highest left, and its windows are not whole top-level
	// outputs (docs/DESIGN.md §10.13).
	top := len(c.Intervals)
	cut := now.Add(-c.KeepExact).Truncate(HourlyPrecision)
	thinned := false
	for _, o := range st.Outputs[top] {
		if o.To.After(cut) || st.thinnedCovers(o.From, o.To) {
			continue
		}
		c.say("retention: thinning level %d (%s, %s] to the last change of each hour", top, fmtTime(o.From), fmtTime(o.To))
		or, err := c.thin(ctx, st, run, o, rep)
		if err != nil {
			return st, fmt.Errorf("thin (%s, %s]: %w", fmtTime(o.From), fmtTime(o.To), err)
		}
		rep.Outputs = append(rep.Outputs, or)
		thinned = true
	}
	if thinned {
		var err error
		if st, err = LoadState(ctx, c.Bucket, c.Dir); err != nil {
			return st, err
		}
	}
	if c.Shards > 1 && c.Shard != 0 {
		return st, nil // shard 0 deletes
	}
	// The exact outputs the aged thinned ones replace, every level.
	levels := st.Levels()
	cutoff := now.Add(-c.DeleteDelay)
	deleted := false
	for _, t := range st.Thinned {
		if t.Listed.After(cutoff) {
			continue
		}
		for _, l := range levels {
			for _, o := range st.Outputs[l] {
				if !o.From.Before(t.From) && !o.To.After(t.To) {
					if err := c.deleteOutput(ctx, o); err != nil {
						return st, err
					}
					rep.OutputsDeleted++
					deleted = true
				}
			}
		}
	}
	// KeepHourly: everything before the newest base older than it.
	if c.KeepHourly > 0 {
		var keep *output
		for i := range st.Bases {
			if !st.Bases[i].To.After(now.Add(-c.KeepHourly)) {
				keep = &st.Bases[i]
			}
		}
		if keep != nil && !keep.Listed.After(cutoff) {
			for _, o := range st.Thinned {
				if !o.To.After(keep.To) {
					if err := c.deleteOutput(ctx, o); err != nil {
						return st, err
					}
					rep.OutputsDeleted++
					deleted = true
				}
			}
			for _, l := range levels {
				for _, o := range st.Outputs[l] {
					if !o.To.After(keep.To) {
						if err := c.deleteOutput(ctx, o); err != nil {
							return st, err
						}
						rep.OutputsDeleted++
						deleted = true
					}
				}
			}
			for _, b := range st.Bases {
				if b.To.Before(keep.To) {
					if err := c.deleteOutput(ctx, b); err != nil {
						return st, err
					}
					rep.BasesDeleted++
					deleted = true
				}
			}
		}
	}
	if deleted {
		return LoadState(ctx, c.Bucket, c.Dir)
	}
	return st, nil
}

// thinnedCovers reports whether thinned outputs hold (from, to].
func (s *State) thinnedCovers(from, to time.Time) bool {
	for _, t := range s.Thinned {
		if !t.From.After(from) && !t.To.Before(to) {
			return true
		}
	}
	return false
}

// thin writes the thinned copy of the top-level output o: per id and per
// hour (by effective time), the last change in the order of §10.3. The
// state at a whole hour H is the newest change with e <= H: the newest of
// the hours' newest, so it is kept.
func (c *Compactor) thin(ctx context.Context, st *State, run string, o output, rep *Report) (OutputReport, error) {
	folder := st.Dir + hourlyFolder + formatNameTime(o.From) + "_" + formatNameTime(o.To) + "/"
	w := newPartWriter(c.Bucket, folder, run, c.shardIndex(), c.PartBytes)
	r := &Reader{Bucket: c.Bucket}
	var rs ReadStats
	lag := st.Desc.Lag()
	plan := []span{{out: &o, Lo: o.From, Hi: o.To}}
	h := HourlyPrecision.Milliseconds()
	err := r.mergePlan(ctx, st, plan, c.Lo, c.Hi, o.To, false, &rs, func(g []Record, _ time.Time) error {
		for i := range g {
			hour := ceilDiv(g[i].Effective(lag), h)
			last := true
			for j := i + 1; j < len(g); j++ {
				if ceilDiv(g[j].Effective(lag), h) == hour {
					last = false
					break
				}
			}
			if last {
				if err := w.add(ctx, &g[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	c.count(rep, &rs)
	if err != nil {
		return OutputReport{}, err
	}
	f := o.From
	done, err := w.finish(ctx, c.Shards, Manifest{Kind: kindLevel, Level: o.Level, From: &f, To: o.To, PrecisionSeconds: int64(HourlyPrecision / time.Second), Tool: c.Tool})
	return OutputReport{Kind: kindLevel, Level: o.Level, From: o.From, To: o.To, Records: w.total, Parts: len(w.parts), Finished: done, PrecisionSeconds: int64(HourlyPrecision / time.Second)}, err
}

// ceilDiv is the hour window (k-1)h < e <= kh of e, as k.
func ceilDiv(e, h int64) int64 {
	q := e / h
	if e%h > 0 {
		q++
	}
	return q
}
