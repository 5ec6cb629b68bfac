package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// FormatVersion is the journal's format (docs/DESIGN.md §10); readers
// refuse a newer one.
const FormatVersion = 1

// DefaultLag is the delivery lag a writer is deployed for when
// DYNASNAP_JOURNAL_LAG does not say (docs/DESIGN.md §10.4).
const DefaultLag = 5 * time.Minute

// Descriptor is journal.json: its presence makes a table folder a journal.
type Descriptor struct {
	FormatVersion int    `json:"formatVersion"`
	Layout        string `json:"layout"` // "journal"
	// LagSeconds is L: a change made at T counts at T only when its
	// segment was stored by T + L.
	LagSeconds int64     `json:"lagSeconds"`
	UpdatedAt  time.Time `json:"updatedAt"`
	Tool       string    `json:"tool"`
}

// Lag is L as a duration.
func (d *Descriptor) Lag() time.Duration { return time.Duration(d.LagSeconds) * time.Second }

// ErrNoJournal means the table folder holds no journal.
var ErrNoJournal = errors.New("no journal")

// ReadDescriptor reads dir's journal.json; ErrNoJournal when there is none.
func ReadDescriptor(ctx context.Context, b Bucket, dir string) (*Descriptor, error) {
	body, err := readAll(ctx, b, dir+DescriptorName)
	if errors.Is(err, ErrNotExist) {
		return nil, ErrNoJournal
	}
	if err != nil {
		return nil, err
	}
	var d Descriptor
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("s3://%s/%s%s is not a journal descriptor: %w", b.Name(), dir, DescriptorName, err)
	}
	if d.FormatVersion < 1 || d.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("s3://%s/%s%s has journal format %d; this dynasnap reads 1 to %d: upgrade it", b.Name(), dir, DescriptorName, d.FormatVersion, FormatVersion)
	}
	if d.LagSeconds < 0 {
		return nil, fmt.Errorf("s3://%s/%s%s: negative lagSeconds", b.Name(), dir, DescriptorName)
	}
	return &d, nil
}

// EnsureDescriptor writes dir's journal.json when it is missing or records
// another lag: one GET when it is right (a writer's cold start).
func EnsureDescriptor(ctx context.Context, b Bucket, dir string, lag time.Duration, tool string) error {
	d, err := ReadDescriptor(ctx, b, dir)
	if err == nil && d.Lag() == lag.Truncate(time.Second) {
		return nil
	}
	if err != nil && !errors.Is(err, ErrNoJournal) {
		return err
	}
	if err != nil {
		// A new journal: one listing makes sure the folder is not a
		// versioned backup already, whose history the journal would hide.
		if err := checkNoItems(ctx, b, dir); err != nil {
			return err
		}
	}
	nd := Descriptor{FormatVersion: FormatVersion, Layout: "journal", LagSeconds: int64(lag / time.Second), UpdatedAt: time.Now().UTC(), Tool: tool}
	body, _ := json.MarshalIndent(nd, "", "  ")
	return b.Put(ctx, dir+DescriptorName, append(body, '\n'), false)
}

// ErrHoldsItems means a table folder already holds a versioned backup.
var ErrHoldsItems = errors.New("the table folder holds a per-item backup")

func checkNoItems(ctx context.Context, b Bucket, dir string) error {
	var first string
	if err := b.List(ctx, dir, "", func(o Object) bool { first = o.Key; return false }); err != nil {
		return err
	}
	if first != "" && first < dir+Folder {
		return fmt.Errorf("%w: s3://%s/%s holds %s, an item of the per-item layout; a journal there would hide that history from every reader. "+
			"Keep DYNASNAP_LAYOUT=items (template Layout=items) for this table, or write the journal under another prefix", ErrHoldsItems, b.Name(), dir, first)
	}
	return nil
}
