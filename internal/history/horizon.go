package history

import (
	"context"
	"errors"
	"fmt"
	"github.com/dynasnap/dynasnap/internal/awserr"
	"strings"
	"time"
)

// The horizon (docs/DESIGN.md §3): how far back the bucket's lifecycle rules
// let the history answer exactly. It is part of the time rule: every command
// that reads the history at a time checks its times with Horizon.Check.

// Day is a lifecycle day: S3 counts whole days of 24 hours.
const Day = 24 * time.Hour

// LifecycleRule is one rule of a bucket's lifecycle configuration, as far
// as it concerns the history.
type LifecycleRule struct {
	ID      string
	Enabled bool
	// Prefix is the rule's key prefix (Prefix, Filter.Prefix or
	// Filter.And.Prefix; "" is the whole bucket).
	Prefix string
	// Conditional: the rule also has tag or object size conditions, so it
	// may or may not apply to a backup object; counted as applying.
	Conditional bool
	// NoncurrentDays is NoncurrentVersionExpiration.NoncurrentDays (0:
	// none); NoncurrentSet says the action is there at all.
	NoncurrentSet   bool
	NoncurrentDays  int32
	NewerNoncurrent int32
	// ExpirationDays and ExpirationDate expire current versions.
	ExpirationDays int32
	ExpirationDate time.Time
	// ExpiredObjectDeleteMarker removes delete markers with no version
	// behind them.
	ExpiredObjectDeleteMarker bool
}

// Name is how a rule is named in messages.
func (r LifecycleRule) Name() string {
	if r.ID == "" {
		return fmt.Sprintf("lifecycle rule (no ID, prefix %q)", r.Prefix)
	}
	return fmt.Sprintf("lifecycle rule %q", r.ID)
}

// ErrNoLifecycle is what a LifecycleReader returns for a bucket without a
// lifecycle configuration (S3: NoSuchLifecycleConfiguration).
var ErrNoLifecycle = errors.New("no lifecycle configuration")

// JournalHorizoner is a Source that reads change journals: for a table
// folder that holds one, its horizon is the journal's own (what compaction
// kept, docs/DESIGN.md §10.11), not the bucket's lifecycle rules, which
// act on versions a journal does not read. isJournal is false for a folder
// that holds versions; an error only for a cancelled context.
type JournalHorizoner interface {
	JournalHorizon(ctx context.Context, folder string, now time.Time) (h *Horizon, isJournal bool, err error)
}

// LifecycleReader is a Source that can read its bucket's lifecycle rules.
type LifecycleReader interface {
	Lifecycle(ctx context.Context) ([]LifecycleRule, error)
}

// Limit is what one rule does to the history of the table folder: the
// state at T is exact only when From <= T (zero From: no bound) and T <
// Until (zero Until: no bound); Never: no time is.
type Limit struct {
	Rule  string
	Why   string
	From  time.Time
	Until time.Time
	Never bool
	// Every > 0: a time in (CoarseFrom, CoarseUntil] is exact only when it
	// is a multiple of Every (a journal's thinned history, §10.13).
	Every                   time.Duration
	CoarseFrom, CoarseUntil time.Time
}

// coarse reports whether t is a time l's coarse window cannot answer.
func (l Limit) coarse(t time.Time) bool {
	return l.Every > 0 && t.After(l.CoarseFrom) && !t.After(l.CoarseUntil) && !t.Truncate(l.Every).Equal(t)
}

// Horizon is what a bucket's lifecycle rules allow a command to read of one
// table folder, worked out once, at the command's start.
type Horizon struct {
	Bucket, Folder string
	Now            time.Time
	// Read: the lifecycle configuration was read (or there is none).
	Read bool
	// Warning says why the rules are unknown (a denied read).
	Warning string
	Limits  []Limit
	// Notes are rules that apply but move no time (for the report).
	Notes []string
}

// Oldest is the oldest time the history answers exactly (zero: no bound
// from below), and the rule that sets it.
func (h *Horizon) Oldest() (time.Time, string) {
	var t time.Time
	var rule string
	for _, l := range h.Limits {
		if l.From.After(t) {
			t, rule = l.From, l.Rule
		}
	}
	return t, rule
}

// ReadHorizon reads src's lifecycle rules once and works out the horizon of
// the table folder (PREFIX/TABLE) at now. A source that cannot read rules,
// or a denied read, gives a Horizon with no limits and, for the denial, a
// warning; only a cancelled context is an error.
func ReadHorizon(ctx context.Context, src Source, folder string, now time.Time) (*Horizon, error) {
	if jh, ok := src.(JournalHorizoner); ok {
		h, isJournal, err := jh.JournalHorizon(ctx, folder, now)
		if err != nil {
			return nil, err
		}
		if isJournal {
			return h, nil
		}
	}
	h := &Horizon{Bucket: src.Bucket(), Folder: folder, Now: now}
	lr, ok := src.(LifecycleReader)
	if !ok {
		h.Read = true
		return h, nil
	}
	rules, err := lr.Lifecycle(ctx)
	switch {
	case errors.Is(err, ErrNoLifecycle):
		h.Read = true
		return h, nil
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		h.Warning = fmt.Sprintf("could not read the lifecycle rules of bucket %s (%s): how far back the history is exact is unknown; if a rule expires noncurrent versions, a time older than it is silently wrong", h.Bucket, awserr.Text(err))
		return h, nil
	}
	h.Read = true
	h.apply(rules)
	return h, nil
}

// NewHorizon works out the horizon of folder from rules (for tests and
// readers other than S3).
func NewHorizon(bucket, folder string, now time.Time, rules []LifecycleRule) *Horizon {
	h := &Horizon{Bucket: bucket, Folder: folder, Now: now, Read: true}
	h.apply(rules)
	return h
}

// covers says whether a rule with this prefix can act on an object of the
// folder: its prefix is a prefix of the folder's keys, or lies inside the
// folder (some items).
func covers(rulePrefix, folder string) bool {
	dir := strings.TrimSuffix(folder, "/") + "/"
	return strings.HasPrefix(dir, rulePrefix) || strings.HasPrefix(rulePrefix, dir)
}

func (h *Horizon) apply(rules []LifecycleRule) {
	for _, r := range rules {
		if !r.Enabled || !covers(r.Prefix, h.Folder) {
			continue
		}
		name := r.Name()
		if r.Conditional {
			name += " (with tag or size conditions, counted as applying)"
		}
		if r.NoncurrentSet {
			// A version is noncurrent from the moment its successor (the
			// next version or delete marker) is written, and S3 may
			// expire it NoncurrentDays after that. The version current at
			// T has its successor after T, so it lives at least until T +
			// N days: T is exact while T >= now - N days.
			n := r.NoncurrentDays
			why := fmt.Sprintf("expires noncurrent versions %s after they become noncurrent", days(n))
			if r.NewerNoncurrent > 0 {
				why += fmt.Sprintf(" (keeping the newest %d, which bounds no time)", r.NewerNoncurrent)
			}
			h.Limits = append(h.Limits, Limit{Rule: name, Why: why, From: h.Now.Add(-time.Duration(n) * Day)})
		}
		switch {
		case r.ExpirationDays > 0:
			h.Limits = append(h.Limits, Limit{Rule: name, Never: true,
				Why: fmt.Sprintf("expires current versions %s after they are written: in a versioned bucket that puts a delete marker on every item unchanged that long, so such items read as deleted from then on, and no time can be told exact", days(r.ExpirationDays))})
		case !r.ExpirationDate.IsZero():
			h.Limits = append(h.Limits, Limit{Rule: name, Until: r.ExpirationDate,
				Why: fmt.Sprintf("expires every current version on %s: from then on the items read as deleted", FormatTime(r.ExpirationDate))})
		}
		if r.ExpiredObjectDeleteMarker {
			h.Notes = append(h.Notes, name+" removes delete markers with no version left behind them: it changes no state the horizon allows, but a delete older than the horizon leaves no trace")
		}
	}
}

// Violation is one limit a time breaks.
type Violation struct {
	Flag string
	At   time.Time
	Limit
}

func (v Violation) String() string {
	switch {
	case v.Never:
		return fmt.Sprintf("%s %s is not exact: %s %s", v.Flag, FormatTime(v.At), v.Rule, v.Why)
	case v.coarse(v.At):
		lo := v.At.Truncate(v.Every)
		return fmt.Sprintf("%s %s is not exact: %s %s; the nearest exact times are %s and %s", v.Flag, FormatTime(v.At), v.Rule, v.Why, FormatTime(lo), FormatTime(lo.Add(v.Every)))
	case !v.Until.IsZero() && !v.At.Before(v.Until):
		return fmt.Sprintf("%s %s is not exact: %s %s; the newest exact time is before %s", v.Flag, FormatTime(v.At), v.Rule, v.Why, FormatTime(v.Until))
	default:
		return fmt.Sprintf("%s %s is before the history's horizon: %s %s, so the oldest exact time is %s", v.Flag, FormatTime(v.At), v.Rule, v.Why, FormatTime(v.From))
	}
}

// At is a time a command reads the history at, with the flag that gave it.
type At struct {
	Flag string
	T    time.Time
}

// Violations lists the limits the times break.
func (h *Horizon) Violations(times ...At) []Violation {
	var vs []Violation
	for _, a := range times {
		for _, l := range h.Limits {
			if l.Never || (!l.From.IsZero() && a.T.Before(l.From)) || (!l.Until.IsZero() && !a.T.Before(l.Until)) || l.coarse(a.T) {
				vs = append(vs, Violation{Flag: a.Flag, At: a.T, Limit: l})
			}
		}
	}
	return vs
}

// ErrBeyondHorizon marks the error of a time the lifecycle rules do not let
// the history answer exactly.
var ErrBeyondHorizon = errors.New("beyond the history's horizon")

// PartialPrefix starts the warning of a time read beyond the horizon.
const PartialPrefix = "PARTIAL HISTORY: "

// Check is the horizon part of the time rule: the times a command reads the
// history at, against the rules. A time the rules do not let the history
// answer exactly is an error naming the rule and the oldest exact time;
// with allowPartial it is a warning instead. Warnings (and a denied read of
// the rules) are returned for the summary and --json.
func (h *Horizon) Check(allowPartial bool, times ...At) ([]string, error) {
	var warns []string
	if h.Warning != "" {
		warns = append(warns, h.Warning)
	}
	vs := h.Violations(times...)
	if len(vs) == 0 {
		return warns, nil
	}
	if !allowPartial {
		return warns, fmt.Errorf("%w: %s (bucket %s); pass --allow-partial-history to read it anyway, knowing items may be missing or stale", ErrBeyondHorizon, vs[0], h.Bucket)
	}
	for _, v := range vs {
		warns = append(warns, PartialPrefix+v.String()+"; items may be missing or stale (--allow-partial-history)")
	}
	return warns, nil
}

func days(n int32) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}
