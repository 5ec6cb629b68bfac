package drill

import (
	"fmt"
	"io"
	"time"
)

// WriteText prints the report for people: the verdict, then one line per
// figure, then the reasons for a failure.
func (r *Report) WriteText(w io.Writer) {
	verdict := "PASSED"
	if !r.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "drill %s\n", verdict)
	if r.Snapshot != "" {
		fmt.Fprintf(w, "  snapshot        %s (at %s, %d items)\n", r.Snapshot, r.SnapshotTime.Format(time.RFC3339), r.SnapshotItems)
	}
	if r.SnapshotTaken != nil {
		fmt.Fprintf(w, "  taken in        %s\n", r.SnapshotTaken.Human)
	}
	if t := r.Table; t.Name != "" {
		fate := "not created"
		switch {
		case t.Kept:
			fate = "KEPT (--keep-table)"
		case t.Deleted && t.Created:
			fate = "deleted in " + t.Delete.Human
		case t.Deleted:
			fate = "never created"
		case t.Created:
			fate = "NOT DELETED"
		}
		fmt.Fprintf(w, "  scratch table   %s (key %s): %s\n", t.Name, t.KeySchema, fate)
	}
	if r.Snapshot != "" {
		rp := r.RecoveryPoint
		lag := "unknown (no sidecar, or no item)"
		if rp.DataLag != nil {
			lag = rp.DataLag.Human
		}
		fmt.Fprintf(w, "  recovery point  %s: newest backup version %s, data lag %s, snapshot age %s%s\n",
			rp.Human, fmtTime(r.NewestVersion), lag, rp.SnapshotAge.Human, budget(rp.Budget, rp.Exceeded))
	}
	if h := r.HistoryHorizon; h != nil {
		switch {
		case h.OldestExactTime != nil:
			fmt.Fprintf(w, "  history horizon %s: the oldest time the backup answers exactly (%s)\n", h.OldestExactTime.Format(time.RFC3339), h.Rule)
		case len(h.Warnings) == 0:
			fmt.Fprintf(w, "  history horizon none: no lifecycle rule expires the backup's versions\n")
		}
		for _, l := range h.Limits {
			fmt.Fprintf(w, "  history limit   %s\n", l)
		}
		for _, x := range h.Warnings {
			fmt.Fprintf(w, "  warning         %s\n", x)
		}
	}
	if rt := r.RecoveryTime; rt != nil {
		fmt.Fprintf(w, "  recovery time   %s: create table %s + restore %s (%d items, %.0f items/s)%s\n",
			rt.Human, rt.CreateTable.Human, rt.Restore.Human, rt.ItemsRestored, rt.ItemsPerSecond, budget(rt.Budget, rt.Exceeded))
	}
	if v := r.Verify; v != nil {
		fmt.Fprintf(w, "  verify          %s: %d snapshot items, %d table items; %d missing, %d extra, %d different\n",
			r.VerifyTime.Human, v.SnapshotItems, v.TableItems, v.Missing, v.Extra, v.Different)
	}
	if v := r.Verify; v != nil && v.Definition != nil && v.Definition.Recorded {
		state := "as recorded"
		if !v.Definition.Equal() {
			state = fmt.Sprintf("%d differences", len(v.Definition.Differences))
		}
		fmt.Fprintf(w, "  definition      %s; indexes read: %d\n", state, len(v.Definition.IndexesRead))
	}
	if r.ExpiredSkipped > 0 {
		fmt.Fprintf(w, "  expired         %d items skipped (TTL time passed)\n", r.ExpiredSkipped)
	}
	for _, o := range r.OtherScratchTables {
		fmt.Fprintf(w, "  warning         scratch table %s was there before this drill: left by one that was killed, or running now\n", o)
	}
	for _, u := range r.UnfinishedSkipped {
		fmt.Fprintf(w, "  skipped         %s (unfinished: no manifest-summary.json)\n", u)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  FAILURE: %s\n", f)
	}
}

func budget(b *Span, exceeded bool) string {
	switch {
	case b == nil:
		return ""
	case exceeded:
		return fmt.Sprintf(" [OVER the budget of %s]", b.Human)
	}
	return fmt.Sprintf(" [within the budget of %s]", b.Human)
}
