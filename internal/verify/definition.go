package verify

import (
	"context"

	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// DefinitionReport is the table's definition compared with the recorded
// one (docs/DESIGN.md §7): each difference in key, indexes and their
// projections, TTL attribute, billing mode, stream, resource policy,
// Contributor Insights, auto scaling, Kinesis destinations and replicas.
type DefinitionReport struct {
	Recorded    bool     `json:"recorded"` // false: the snapshot holds no definition, nothing compared
	Differences []string `json:"differences"`
	// IndexesRead names the indexes drill read once (drill only).
	IndexesRead []string `json:"indexesRead,omitempty"`
}

// Equal reports whether nothing differs.
func (r *DefinitionReport) Equal() bool { return r == nil || len(r.Differences) == 0 }

// Definition compares table with rec (nil: not recorded, nothing to do).
func Definition(ctx context.Context, api tabledef.DescribeAPI, more tabledef.Services, table string, rec *tabledef.Definition) (*DefinitionReport, error) {
	rep := &DefinitionReport{Differences: []string{}}
	if rec == nil {
		return rep, nil
	}
	rep.Recorded = true
	got, _, err := tabledef.Describe(ctx, api, more, table)
	if err != nil {
		return nil, err
	}
	if d := tabledef.Compare(rec, got); d != nil {
		rep.Differences = d
	}
	return rep, nil
}
