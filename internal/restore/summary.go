package restore

import "time"

// Summary is restore --json (docs/JSON.md): the fields every restore has,
// then those of its source. Field names are stable.
type Summary struct {
	Table              string  `json:"table"`
	Puts               int64   `json:"puts"`
	Deletes            int64   `json:"deletes"`
	Seconds            float64 `json:"seconds"`
	ItemsPerSecond     float64 `json:"itemsPerSecond"`
	Requests           int64   `json:"requests"`
	UnprocessedRetried int64   `json:"unprocessedRetried"`
	ThrottledRetried   int64   `json:"throttledRetried"`
	Backoffs           int64   `json:"backoffs"`
	BackoffSeconds     float64 `json:"backoffSeconds"`
	SkippedFiles       int     `json:"skippedFiles"`
	SkippedItems       int64   `json:"skippedItems"`
	TableCreated       bool    `json:"tableCreated"`
	// ExpiredSkipped counts items whose TTL had passed (not loaded).
	ExpiredSkipped int64 `json:"expiredSkipped"`
	// LimitedBy names what the write rate met: the table, --max-wcu or the client.
	LimitedBy LimitKind `json:"limitedBy"`
	// Recreated and NotRecreated are the settings a created table got
	// after the load, and those skipped with the reason.
	Recreated    []string `json:"recreated,omitempty"`
	NotRecreated []string `json:"notRecreated,omitempty"`
	// StreamArn is the created table's new stream, when one was turned on.
	StreamArn string `json:"streamArn,omitempty"`
	// Keys is set by --source (keys in the backup) and --changes (keys the
	// export changes).
	Keys *int64 `json:"keys,omitempty"`
	// FilteredOut is set with --where or --key-prefix only.
	FilteredOut *int64 `json:"filteredOut,omitempty"`
	*SnapshotSummary
	*ChangesSummary
	*VersionsSummary
	*ConflictSummary
	*UndoSummary
}

// SnapshotSummary is what a restore from a snapshot adds.
type SnapshotSummary struct {
	Snapshot   string    `json:"snapshot"`
	ExportTime time.Time `json:"exportTime"`
}

// ChangesSummary is what applying an incremental export adds.
type ChangesSummary struct {
	Changes        string `json:"changes"`
	ExportFromTime string `json:"exportFromTime"`
	ExportToTime   string `json:"exportToTime"`
	// Keys (the keys the export changes) is the summary's own field: two
	// embedded parts with one JSON name would both be dropped.
}

// VersionsSummary is what a restore from versions adds.
type VersionsSummary struct {
	Source    string    `json:"source"`
	At        time.Time `json:"at"`
	Rewind    bool      `json:"rewind"`
	Unchanged int64     `json:"unchanged"`
	// HistoryWarnings are the lifecycle horizon's (docs/DESIGN.md §3); the
	// caller that checked the horizon sets them.
	HistoryWarnings []string `json:"historyWarnings,omitempty"`
}

// UndoSummary is what restore --undo adds: its window, and its counts
// (docs/DESIGN.md §7): keys put back (restored) and deleted, conflicts
// left alone, TTL deletes left alone (expiredLeftAlone); with dryRun, what
// would be written. listed names conflicts and TTL deletes, and with dryRun
// the writes too (up to MaxUndoListed).
//
// Its fields must not share a JSON name with the other embedded parts
// (both would be dropped): source, unchanged and historyWarnings come from
// VersionsSummary, conflicts and conflictKeys from ConflictSummary.
type UndoSummary struct {
	Undo             bool      `json:"undo"`
	From             time.Time `json:"from"`
	To               time.Time `json:"to"`
	DryRun           bool      `json:"dryRun"`
	Restored         int64     `json:"restored"`
	Deleted          int64     `json:"deleted"`
	ExpiredLeftAlone int64     `json:"expiredLeftAlone"`
	Listed           []UndoKey `json:"listed"`
}

// ConflictSummary is what a filtered restore from versions adds.
type ConflictSummary struct {
	Conflicts    int64    `json:"conflicts"`
	ConflictKeys []string `json:"conflictKeys"`
}

// Summary is the report as restore --json prints it; r.Result must be set
// (the restore ran).
func (r *Report) Summary() Summary {
	res := r.Result
	s := Summary{Table: r.Name, Puts: res.Puts, Deletes: res.Deletes, Seconds: res.Elapsed.Seconds(),
		ItemsPerSecond: float64(res.Puts+res.Deletes) / res.Elapsed.Seconds(), Requests: res.Requests,
		UnprocessedRetried: res.Unprocessed, ThrottledRetried: res.Throttled, Backoffs: res.Backoffs,
		BackoffSeconds: res.BackoffTime.Seconds(), SkippedFiles: res.SkippedFiles, SkippedItems: res.SkippedItems,
		TableCreated: r.Created, ExpiredSkipped: res.Expired, LimitedBy: r.Limit.Kind,
		SnapshotSummary: r.Snapshot, ChangesSummary: r.Changes, VersionsSummary: r.Versions,
		Recreated: r.AfterLoad.Done, NotRecreated: r.AfterLoad.Skipped, StreamArn: r.AfterLoad.StreamArn}
	if r.Filter != "" {
		s.FilteredOut = &res.Filtered
	}
	if r.Snapshot == nil {
		s.Keys = &res.Keys
	}
	if r.Undo != nil && res.Undo != nil {
		u := *r.Undo
		u.Undo, u.Restored, u.Deleted, u.ExpiredLeftAlone = true, res.Undo.Restored, res.Undo.Deleted, res.Undo.Expired
		u.Listed = append([]UndoKey{}, res.Undo.Listed...)
		s.UndoSummary = &u
	}
	if r.Versions != nil {
		v := *r.Versions
		v.Unchanged = res.Unchanged
		s.VersionsSummary = &v
		if r.Filter != "" || r.Undo != nil {
			s.ConflictSummary = &ConflictSummary{Conflicts: res.Conflicts, ConflictKeys: append([]string{}, res.ConflictKeys...)}
		}
	}
	return s
}
