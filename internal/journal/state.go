package journal

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// output is a level output or a base whose manifest is listed.
type output struct {
	Level    int // -1: a base
	From, To time.Time
	Folder   string // key prefix, ending in "/"
	Listed   time.Time
}

func (o output) manifestKey() string { return o.Folder + ManifestName }

// State is what a journal holds, as listed: its descriptor, bases and
// level outputs (only those with a manifest). Segments are listed apart,
// for a window of times only.
type State struct {
	Dir     string
	Desc    *Descriptor
	Bases   []output         // by time
	Outputs map[int][]output // by level, then (From, To)
	Thinned []output         // retention's thinned outputs, by From (retention.go)
	Window  time.Time        // an import's open window: its cut (fromitems.go)
}

// epoch is the start of every journal: the first level output of each
// level covers (epoch, its end].
var epoch = time.Unix(0, 0).UTC()

// segmentSkew is how far a writer's clock (which names a segment) may be
// from S3's (which stamps it): segments are listed this much beyond the
// times a read needs, and kept by their LastModified.
const segmentSkew = 5 * time.Minute

// LoadState lists dir's journal: one listing of the outputs (segments are
// skipped by starting after them).
func LoadState(ctx context.Context, b Bucket, dir string) (*State, error) {
	d, err := ReadDescriptor(ctx, b, dir)
	if err != nil {
		return nil, err
	}
	return LoadStateWith(ctx, b, dir, d)
}

// LoadStateWith is LoadState with dir's descriptor read already.
func LoadStateWith(ctx context.Context, b Bucket, dir string, d *Descriptor) (*State, error) {
	st := &State{Dir: dir, Desc: d, Outputs: map[int][]output{}}
	err := b.List(ctx, dir+Folder, dir+segmentFolder+"~", func(o Object) bool {
		rel := strings.TrimPrefix(o.Key, dir+Folder)
		folder, name, ok := cutLast(rel)
		if !ok || name != ManifestName {
			st.noteObject(o) // fromitems.go
			return true
		}
		lv, from, to, ok := parseOutputFolder(folder)
		if !ok {
			st.noteThinned(folder, o) // retention.go
			return true
		}
		out := output{Level: lv, From: from, To: to, Folder: dir + Folder + folder + "/", Listed: o.LastModified}
		if lv < 0 {
			st.Bases = append(st.Bases, out)
		} else {
			st.Outputs[lv] = append(st.Outputs[lv], out)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(st.Bases, func(a, b output) int { return a.To.Compare(b.To) })
	slices.SortFunc(st.Thinned, func(a, b output) int { return cmp.Or(a.From.Compare(b.From), a.To.Compare(b.To)) })
	for _, os := range st.Outputs {
		slices.SortFunc(os, func(a, b output) int { return cmp.Or(a.From.Compare(b.From), a.To.Compare(b.To)) })
	}
	return st, nil
}

func cutLast(s string) (string, string, bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// Levels returns the levels that have outputs, ascending.
func (s *State) Levels() []int {
	var lv []int
	for l := range s.Outputs {
		lv = append(lv, l)
	}
	slices.Sort(lv)
	return lv
}

// End is where level's outputs reach without a gap from the first of
// them (the epoch for an empty level). A level's first outputs are deleted
// once the next level covers them (§10.7), so its chain may start later
// than the epoch; what lies before is the higher levels'.
func (s *State) End(level int) time.Time {
	os := s.Outputs[level]
	if len(os) == 0 {
		return epoch
	}
	end := os[0].From
	for _, o := range os {
		if !o.From.After(end) && o.To.After(end) {
			end = o.To
		}
	}
	return end
}

// from is where a new output of level starts: where that level, or any
// above it, reaches, alone or together (a level's chain may pass over a
// window a wider level wrote in the same run, §10.6). The levels below it
// and the segments hold every change after that point; before it, inputs
// may have been deleted.
func (s *State) from(level int) time.Time {
	p := s.reach(level)
	for _, l := range s.Levels() {
		if l >= level {
			p = maxTime(p, s.End(l))
		}
	}
	return p
}

// Covered is how far any level's outputs reach from the epoch or a base:
// changes up to it need no segment.
func (s *State) Covered() time.Time {
	return s.from(0)
}

// reach is where the outputs of the levels from minLevel up reach from
// the epoch (or the end of the thinned outputs) together, without a gap.
func (s *State) reach(minLevel int) time.Time {
	var os []output
	for l, lo := range s.Outputs {
		if l >= minLevel {
			os = append(os, lo...)
		}
	}
	slices.SortFunc(os, func(a, b output) int { return a.From.Compare(b.From) })
	p := s.thinnedEnd() // retention.go: the changes before it are thinned
	for _, o := range os {
		if o.From.After(p) {
			break
		}
		p = maxTime(p, o.To)
	}
	return p
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// span is one source of a read: a base (all of it), or an output or the
// segments read for the effective times (Lo, Hi].
type span struct {
	out    *output // nil: segments
	base   bool
	Lo, Hi time.Time
}

// Plan is what a read at times between tmin and tmax takes: the newest
// base at or before tmin (with useBase), then the fewest outputs that cover
// the times after it up to tmax, largest first, and the segments for the
// rest (docs/DESIGN.md §10.5).
func (s *State) Plan(tmin, tmax time.Time, useBase bool) []span {
	var plan []span
	p := epoch
	if useBase {
		for i := len(s.Bases) - 1; i >= 0; i-- {
			if !s.Bases[i].To.After(tmin) {
				b := s.Bases[i]
				plan = append(plan, span{out: &b, base: true, Hi: b.To})
				p = b.To
				break
			}
		}
	}
	return append(plan, s.planRange(p, tmax, -1)...)
}

// planRange covers the effective times (p, tmax] with outputs of levels up
// to maxLevel (negative: any; 0: segments only), then segments.
func (s *State) planRange(p, tmax time.Time, maxLevel int) []span {
	var plan []span
	for p.Before(tmax) {
		var best *output
		var over *output // one that covers p and ends after tmax
		for _, l := range s.Levels() {
			if maxLevel >= 0 && l > maxLevel {
				continue
			}
			for i := range s.Outputs[l] {
				o := &s.Outputs[l][i]
				if o.From.After(p) || !o.To.After(p) {
					continue
				}
				if !o.To.After(tmax) {
					if best == nil || o.To.After(best.To) || (o.To.Equal(best.To) && o.Level > best.Level) {
						best = o
					}
				} else if over == nil || o.To.Before(over.To) {
					over = o
				}
			}
		}
		var thin span
		var thinOK bool
		if best == nil && over == nil && maxLevel < 0 {
			thin, thinOK = s.thinnedSpanAt(p, tmax) // retention.go
		}
		switch {
		case best != nil:
			plan = append(plan, span{out: best, Lo: p, Hi: best.To})
			p = best.To
		case over != nil:
			plan = append(plan, span{out: over, Lo: p, Hi: tmax})
			p = tmax
		case thinOK:
			plan = append(plan, thin)
			p = thin.Hi
		default:
			plan = append(plan, span{Lo: p, Hi: tmax})
			p = tmax
		}
	}
	return plan
}

// segments lists the segments whose changes may have effective times in
// (lo, hi]: a segment stored at s holds effective times in [s-lag, s],
// so those stored in (lo, hi+lag], with the writers' clock skew around.
func (s *State) segments(ctx context.Context, b Bucket, lo, hi time.Time) ([]Object, error) {
	var segs []Object
	from := lo.Add(-segmentSkew)
	until := hi.Add(s.Desc.Lag() + segmentSkew)
	start := ""
	if from.After(epoch) {
		start = s.Dir + segmentFolder + formatNameTime(from)
	}
	err := b.List(ctx, s.Dir+segmentFolder, start, func(o Object) bool {
		t, ok := segmentTime(s.Dir, o.Key)
		if !ok {
			return true
		}
		if t.After(until) {
			return false
		}
		segs = append(segs, o)
		return true
	})
	return segs, err
}
