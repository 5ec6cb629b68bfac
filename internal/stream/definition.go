package stream

import (
	"context"
	"sync"
	"time"

	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// DefaultDefinitionEvery is how often a warm writer looks at the table's
// definition again (DYNASNAP_DEFINITION_EVERY).
const DefaultDefinitionEvery = time.Minute

// definitions records each table's definition on the first batch of a
// process (a cold start) and again, if it changed, at most every
// DefinitionEvery (docs/DESIGN.md §2.8). It never fails a batch: without
// the read permissions it logs one warning and the items are still written.
type definitions struct {
	mu     sync.Mutex
	tables map[string]*defState // by table folder
}

type defState struct {
	mu      sync.Mutex
	checked time.Time
	hash    string // of the version known to be current
	warned  bool
}

// recordDefinitions runs after a batch's items are written, once per table
// the batch touched.
func (h *Handler) recordDefinitions(ctx context.Context, changes []*change) {
	if h.cfg.DynamoDB == nil || h.cfg.DefinitionEvery < 0 {
		return
	}
	seen := map[string]bool{}
	for _, c := range changes {
		if c.source == "" || seen[c.table] {
			continue
		}
		seen[c.table] = true
		h.recordDefinition(ctx, c.source, layout.TableLocation(h.cfg.Bucket, h.cfg.Prefix, c.table))
	}
}

func (h *Handler) recordDefinition(ctx context.Context, table string, loc layout.Location) {
	h.defs.mu.Lock()
	if h.defs.tables == nil {
		h.defs.tables = map[string]*defState{}
	}
	st := h.defs.tables[loc.Prefix]
	if st == nil {
		st = &defState{}
		h.defs.tables[loc.Prefix] = st
	}
	h.defs.mu.Unlock()
	if !st.mu.TryLock() {
		return // another batch is at it
	}
	defer st.mu.Unlock()
	if !st.checked.IsZero() && time.Since(st.checked) < h.cfg.DefinitionEvery {
		return
	}
	st.checked = time.Now()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	warn := func(msg string, err error) {
		if st.warned {
			h.log.Debug(msg, "table", table, "error", err.Error())
			return
		}
		st.warned = true
		h.log.Warn(msg+"; items are still written", "table", table, "error", err.Error(),
			"fix", "grant the permission the error names (deploy/template.json): dynamodb:DescribeTable, DescribeTimeToLive, ListTagsOfResource, DescribeContinuousBackups, GetResourcePolicy, DescribeContributorInsights, DescribeKinesisStreamingDestination on the table, application-autoscaling:DescribeScalableTargets and DescribeScalingPolicies, lambda:ListEventSourceMappings")
	}
	d, partial, err := tabledef.Describe(ctx, h.cfg.DynamoDB, tabledef.Services{Scaling: h.cfg.Scaling, Lambda: h.cfg.Lambda}, table)
	if err != nil {
		warn("cannot read the table definition", err)
		return
	}
	if partial != nil {
		warn("part of the table definition could not be read", partial)
	}
	d.Dynasnap.RecordedBy, d.Dynasnap.Tool = "stream", h.cfg.Tool
	hash := d.Hash()
	if hash == st.hash {
		return
	}
	wrote, err := tabledef.Record(ctx, h.s3, loc, d)
	if err != nil {
		warn("cannot store the table definition", err)
		return
	}
	st.hash = hash
	if wrote {
		h.log.Info("table definition recorded", "table", table, "key", tabledef.ObjectKey(loc), "sha256", hash)
	}
}
