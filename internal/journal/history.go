package journal

import "context"

// withFirstBase adds the journal's first base to a plan that reads every
// change from the epoch (a key's whole history, history.KeyVersions): a
// backfill's base is the only record of the items the stream never
// changed, and the levels hold every change after it. A base compaction
// wrote holds copies of changes the levels hold too, which the merge
// drops as one change delivered twice (§10.3).
func (s *State) withFirstBase(plan []span) []span {
	if len(s.Bases) == 0 {
		return plan
	}
	b := s.Bases[0]
	return append([]span{{out: &b, base: true, Hi: b.To}}, plan...)
}

// loadState lists dir's journal, or takes r.State when the caller listed
// it already (the horizon check, a moment before: outputs are deleted
// only once they are DeleteDelay old, and segments are listed by the read).
func (r *Reader) loadState(ctx context.Context, dir string) (*State, error) {
	if r.State != nil && r.State.Dir == dir {
		return r.State, nil
	}
	return LoadState(ctx, r.Bucket, dir)
}
