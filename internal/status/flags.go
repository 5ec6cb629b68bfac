package status

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/layout"
)

// AddFlags declares the thresholds of `dynasnap status` (and of the fleet
// jobs that check them).
func (t *Thresholds) AddFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&t.MaxLag, "max-lag", 0, "a table breaks it (exit 3) when its newest change written is older than this, e.g. 30m: the recovery point promised (0: not checked)")
	fs.DurationVar(&t.MaxSnapshotAge, "max-snapshot-age", 0, "a table breaks it when its newest finished snapshot is older than this, or it has none, e.g. 26h (0: not checked)")
	fs.DurationVar(&t.MaxDrillAge, "max-drill-age", 0, "a table breaks it when its newest drill result is older than this, failed, or missing, e.g. 192h (0: not checked)")
	fs.DurationVar(&t.MaxAuditAge, "max-audit-age", 0, "a table breaks it when its newest audit result is older than this, failed, or missing (0: not checked)")
	fs.IntVar(&t.MaxFailures, "max-failures", -1, "every table breaks it when the writer's failure queue (--failure-queue) holds more messages than this (-1: not checked; 0: any message)")
}

// Locations are --snapshots and --results: the fleet's sibling folders
// (status.DefaultSnapshots, status.DefaultResults when not given).
type Locations struct {
	Snapshots, Results string
}

// AddFlags declares --snapshots and --results.
func (l *Locations) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&l.Snapshots, "snapshots", "", "the fleet's snapshots: a table's are under SNAPSHOTS/TABLE/ (default s3://BUCKET/PREFIX"+SnapshotsSuffix+")")
	fs.StringVar(&l.Results, "results", "", "the jobs' results: RESULTS/TABLE/drill.json, audit.json, enrolment.json (default s3://BUCKET/PREFIX"+ResultsSuffix+")")
}

// Resolve returns the two roots for the backup prefix backups.
func (l Locations) Resolve(backups layout.Location) (snapshots, results layout.Location, err error) {
	snapshots, results = DefaultSnapshots(backups), DefaultResults(backups)
	if l.Snapshots != "" {
		if snapshots, err = layout.ParseS3URL(l.Snapshots); err != nil {
			return snapshots, results, fmt.Errorf("--snapshots: %w", err)
		}
	}
	if l.Results != "" {
		if results, err = layout.ParseS3URL(l.Results); err != nil {
			return snapshots, results, fmt.Errorf("--results: %w", err)
		}
	}
	return snapshots, results, nil
}
