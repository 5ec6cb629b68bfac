package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
)

const historyExamples = `  # every change of one order, newest first
  dynasnap history --source s3://backups/dynasnap/orders --key '{"pk":{"S":"order#42"}}'

  # as JSON lines with the full image of each version
  dynasnap history --source s3://backups/dynasnap/orders --key '{"pk":{"S":"a"},"sk":{"N":"1"}}' --json`

func cmdHistory(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "history", "history --source s3://BUCKET/PREFIX/TABLE --key KEY [flags]", historyExamples)
	source := fs.String("source", "", "the table's backup folder s3://BUCKET/PREFIX/TABLE (required)")
	key := fs.String("key", "", `the item's key attributes as DynamoDB JSON, e.g. '{"pk":{"S":"a"}}' (required)`)
	a.opts.Add(fs)
	a.opts.AddJSON(fs)
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *source == "" || *key == "" {
		return usageError{"--source and --key are required"}
	}
	src, err := history.ParseSource(*source)
	if err != nil {
		return usageError{err.Error()}
	}
	k, err := item.Unmarshal([]byte(*key))
	if err != nil {
		return usageError{fmt.Sprintf("--key: %v", err)}
	}
	ck, err := item.CanonicalKey(k)
	if err != nil {
		return usageError{fmt.Sprintf("--key: %v", err)}
	}
	objectKey := src.ObjectKey(item.ObjectID(ck))
	clients, err := loadAWS(ctx, &awsOpts, 32)
	if err != nil {
		return err
	}
	hs, err := s3source.OpenIn(ctx, clients.Source(), src.Bucket)
	if err != nil {
		return err
	}
	defer hs.Close()
	if err := noteHorizon(ctx, a, hs, src); err != nil {
		return err
	}
	vs, err := history.ItemChanges(ctx, hs, objectKey)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return fmt.Errorf("no versions of %s in %s (object %s): check that the key names every key attribute with the table's types", ck, src, objectKey)
	}
	if a.opts.JSON {
		enc := a.out.JSONEncoder()
		enc.SetEscapeHTML(false)
		for _, v := range vs {
			if err := enc.Encode(v); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(a.stdout, "history of %s (s3://%s/%s): %d versions, newest first\n", ck, src.Bucket, objectKey, len(vs))
	for _, v := range vs {
		fmt.Fprintf(a.stdout, "%s  %-6s  %s%s\n", v.Time.Format(time.RFC3339), v.Event, describe(v), latest(v))
	}
	return nil
}

func describe(v history.Change) string {
	switch v.Event {
	case history.Remove:
		if v.Expired {
			return "item expired (removed by TTL)"
		}
		return "item deleted"
	case history.Insert:
		return "created with " + strings.Join(v.Added, ", ")
	}
	var parts []string
	if len(v.Changed) > 0 {
		parts = append(parts, "changed "+strings.Join(v.Changed, ", "))
	}
	if len(v.Added) > 0 {
		parts = append(parts, "added "+strings.Join(v.Added, ", "))
	}
	if len(v.Removed) > 0 {
		parts = append(parts, "removed "+strings.Join(v.Removed, ", "))
	}
	if len(parts) == 0 {
		return "written again, no attribute changed"
	}
	return strings.Join(parts, "; ")
}

func latest(v history.Change) string {
	s := "  [version " + v.VersionID
	if v.Latest {
		s += ", latest"
	}
	return s + "]"
}
