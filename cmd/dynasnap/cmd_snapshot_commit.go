package main

import (
	"context"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

const commitExamples = `  # four machines each ran one shard into the same folder; join them
  dynasnap snapshot --source s3://backups/dynasnap/orders --at 2026-11-26T09:30:00Z --out s3://exports/orders/0930 --shard 2/4
  dynasnap snapshot commit --out s3://exports/orders/0930`

func cmdSnapshotCommit(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "snapshot commit", "snapshot commit --out DEST", commitExamples)
	out := fs.String("out", "", "the folder the shards wrote into (required)")
	a.opts.Add(fs)
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError{"--out is required"}
	}
	clients, err := loadAWS(ctx, &awsOpts, 16)
	if err != nil {
		return err
	}
	dest, err := store.Open(clients, *out, store.Options{})
	if err != nil {
		return usageError{err.Error()}
	}
	sum, err := snapshot.Commit(ctx, dest, "dynasnap "+version())
	if err != nil {
		return err
	}
	a.out.Printf("committed %s: %d items in %d data files at %s", dest.URL(""), sum.ItemCount, sum.Dynasnap.DataFiles, sum.ExportTime.Format("2006-01-02T15:04:05Z07:00"))
	return nil
}
