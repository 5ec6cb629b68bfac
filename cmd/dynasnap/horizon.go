package main

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/drill"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/layout"
)

// checkHorizon is the lifecycle horizon check (docs/DESIGN.md §3) of a
// command that reads src's history at the given times: an error for a time
// beyond it (unless --allow-partial-history), and the warnings, printed
// (a warning prints even with --quiet) and returned for --json.
func checkHorizon(ctx context.Context, p *printer, o *history.TimeOptions, hs history.Source, src layout.Location, times ...history.At) ([]string, error) {
	_, warns, err := o.CheckHorizon(ctx, hs, src.Prefix, times...)
	if err != nil {
		return nil, err
	}
	for _, m := range warns {
		p.Warnf("%s", m)
	}
	return warns, nil
}

// noteHorizon tells history's reader how far back the list of versions is
// complete: a lifecycle rule may have expired older noncurrent versions.
func noteHorizon(ctx context.Context, a *app, hs history.Source, src layout.Location) error {
	var o history.TimeOptions
	h, warns, err := o.CheckHorizon(ctx, hs, src.Prefix)
	if err != nil {
		return err
	}
	for _, w := range warns {
		a.out.Warnf("%s", w)
	}
	if t, rule := h.Oldest(); !t.IsZero() {
		a.out.Printf("note: %s may have expired versions replaced before %s: the list is complete only from then on", rule, history.FormatTime(t))
	}
	for _, l := range h.Limits {
		if l.Never || !l.Until.IsZero() {
			a.out.Warnf("%s %s", l.Rule, l.Why)
		}
	}
	return nil
}

// drillHorizon is the lifecycle horizon of the backup a snapshot was taken
// from (its summary's source), for the drill report; nil when the source
// is not known.
func drillHorizon(ctx context.Context, clients *awsconf.Clients, source string) *drill.HistoryHorizon {
	src, err := layout.ParseS3URL(source)
	if err != nil || src.Prefix == "" {
		return nil
	}
	hs, err := s3source.NewIn(ctx, clients, src.Bucket)
	if err != nil {
		return nil
	}
	defer hs.Close()
	h, err := history.ReadHorizon(ctx, hs, src.Prefix, time.Now())
	if err != nil {
		return nil
	}
	r := &drill.HistoryHorizon{Limits: []string{}, Warnings: []string{}}
	if h.Warning != "" {
		r.Warnings = append(r.Warnings, h.Warning)
	}
	if t, rule := h.Oldest(); !t.IsZero() {
		t = t.UTC().Truncate(time.Second)
		r.OldestExactTime, r.Rule = &t, rule
	}
	for _, l := range h.Limits {
		r.Limits = append(r.Limits, l.Rule+" "+l.Why)
	}
	return r
}

// checkSource runs the source's two checks at once: versioning (docs/DESIGN.md
// §2.4) and checkHorizon. Both run to their end and versioning's error comes
// first, as when they ran one after the other: the message must not depend
// on which answered first.
func checkSource(ctx context.Context, p *printer, o *history.TimeOptions, hs *s3source.Source, src layout.Location, times ...history.At) ([]string, error) {
	var versioning, horizon error
	var warns []string
	var wg sync.WaitGroup
	// The horizon's warnings wait for versioning's answer: a bucket that
	// does not exist is one clear error, not a warning about its lifecycle
	// rules first.
	wg.Go(func() { versioning = hs.Check(ctx) })
	wg.Go(func() { _, warns, horizon = o.CheckHorizon(ctx, hs, src.Prefix, times...) })
	wg.Wait()
	if err := cmp.Or(versioning, horizon); err != nil {
		return nil, err
	}
	for _, m := range warns {
		p.Warnf("%s", m)
	}
	return warns, nil
}

// openSource opens src's bucket in its own region for a command that reads
// its history at times, once checkSource has passed.
func openSource(ctx context.Context, clients *awsconf.Clients, p *printer, o *history.TimeOptions, src layout.Location, times ...history.At) (*s3source.Source, []string, error) {
	hs, err := s3source.NewIn(ctx, clients.Source(), src.Bucket)
	if err != nil {
		return nil, nil, err
	}
	warns, err := checkSource(ctx, p, o, hs, src, times...)
	if err != nil {
		hs.Close()
		return nil, nil, err
	}
	journalWait(p, hs, o)
	return hs, warns, nil
}

// journalWait sets what a read of a journal allows for the clock skew, and
// has it say why it waits before it waits out the journal's lag
// (docs/DESIGN.md §10.4).
func journalWait(p *printer, hs *s3source.Source, o *history.TimeOptions) {
	hs.SetJournalWait(history.Skew(o.Skew()), func(until time.Time) {
		p.Printf("waiting until %s: a journal counts the changes of a time once its writer's lag has passed (docs/JOURNAL.md)", until.UTC().Format(time.RFC3339))
	})
}
