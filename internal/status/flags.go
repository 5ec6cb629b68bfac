package status

import "github.com/spf13/pflag"

// AddFlags declares the thresholds of `dynasnap status` (and of the fleet
// jobs that check them).
func (t *Thresholds) AddFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&t.MaxLag, "max-lag", 0, "a table breaks it (exit 3) when its newest change written is older than this, e.g. 30m: the recovery point promised (0: not checked)")
	fs.DurationVar(&t.MaxSnapshotAge, "max-snapshot-age", 0, "a table breaks it when its newest finished snapshot is older than this, or it has none, e.g. 26h (0: not checked)")
	fs.DurationVar(&t.MaxDrillAge, "max-drill-age", 0, "a table breaks it when its newest drill result is older than this, failed, or missing, e.g. 8d (0: not checked)")
	fs.DurationVar(&t.MaxAuditAge, "max-audit-age", 0, "a table breaks it when its newest audit result is older than this, failed, or missing (0: not checked)")
	fs.IntVar(&t.MaxFailures, "max-failures", -1, "every table breaks it when the writer's failure queue (--failure-queue) holds more messages than this (-1: not checked; 0: any message)")
}
