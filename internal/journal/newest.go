package journal

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// NewestOutput finds, among the newest outputs (levels and bases, by
// their end, newest first; at most probes manifests read), the first that
// holds records: its newest change was made in its window (From, To] (a
// base's state: at or before To, From zero). ok is false when none of
// those read holds a record. For `dynasnap status` once compaction has
// deleted every segment (docs/DESIGN.md §11.1).
func (s *State) NewestOutput(ctx context.Context, b Bucket, probes int) (from, to time.Time, ok bool, err error) {
	var outs []output
	for _, os := range s.Outputs {
		outs = append(outs, os...)
	}
	outs = append(outs, s.Bases...)
	slices.SortFunc(outs, func(a, b output) int { return cmp.Or(b.To.Compare(a.To), a.Level-b.Level) })
	for i, o := range outs {
		if i == probes {
			break
		}
		m, err := readManifest(ctx, b, o.manifestKey())
		if err != nil {
			return time.Time{}, time.Time{}, false, err
		}
		if m.Records > 0 {
			if o.Level >= 0 {
				from = o.From
			}
			return from, o.To, true, nil
		}
	}
	return time.Time{}, time.Time{}, false, nil
}
