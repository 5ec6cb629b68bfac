package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/parquetfmt"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

const athenaDDLExamples = `  # a Parquet snapshot in S3: its data/ folder is the table's location
  dynasnap athena-ddl s3://analytics/orders/2026-11-26 --table-name orders_20261126

  # a local snapshot, to be copied to S3 first (aws s3 sync ./snap s3://analytics/orders/snap)
  dynasnap athena-ddl ./snap --location s3://analytics/orders/snap`

var errEnoughItems = errors.New("enough items")

func cmdAthenaDDL(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "athena-ddl", "athena-ddl SNAPSHOT [--table-name NAME] [--location s3://BUCKET/PREFIX]", athenaDDLExamples)
	tableName := fs.String("table-name", "", "the Athena table's name (default: the snapshot's table)")
	location := fs.String("location", "", "the snapshot's S3 folder, whose data/ folder becomes the table's LOCATION (default: the snapshot's own, if it is in S3)")
	sample := fs.Int("sample", 1000, "JSON-lines snapshots: items read to find the attributes and their types")
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"name one snapshot: a local folder or s3://BUCKET/PREFIX"}
	}
	snapURL := fs.Arg(0)
	loc := *location
	if loc == "" {
		if !layout.IsS3URL(snapURL) {
			return usageError{"a local snapshot has no S3 location: pass --location s3://BUCKET/PREFIX where you copy it"}
		}
		loc = snapURL
	}
	if !layout.IsS3URL(loc) {
		return usageError{fmt.Sprintf("--location %q: want s3://BUCKET/PREFIX", loc)}
	}
	loc = strings.TrimSuffix(loc, "/")
	if !strings.HasSuffix(loc, "/"+snapshot.DataDir) {
		loc += "/" + snapshot.DataDir
	}
	loc += "/"

	clients, err := loadAWS(ctx, &awsOpts, 8)
	if err != nil {
		return err
	}
	st, err := store.Open(clients.Source(), snapURL, store.Options{})
	if err != nil {
		return usageError{err.Error()}
	}
	s, err := snapshot.Open(ctx, st)
	if err != nil {
		return err
	}
	name := *tableName
	if name == "" {
		name = parquetfmt.Identifier(s.Summary.Dynasnap.Table)
	}
	comment := fmt.Sprintf("dynasnap snapshot of %s at %s", s.Summary.Dynasnap.Source, s.Summary.ExportTime.UTC().Format(time.RFC3339))

	switch s.Summary.OutputFormat {
	case "PARQUET":
		ts, err := s.TableSchema(ctx)
		if err != nil {
			return err
		}
		ddl, err := parquetfmt.ParquetDDL(ts, name, loc, comment)
		if err != nil {
			return fmt.Errorf("table schema of %s: %w", st.URL(""), err)
		}
		fmt.Fprint(a.stdout, ddl)
	case "DYNAMODB_JSON", "":
		var items []item.Item
		err := s.EachItem(ctx, func(l snapshot.Line) error {
			it, err := item.Unmarshal(l.Item)
			if err != nil {
				return err
			}
			items = append(items, it)
			if len(items) >= *sample {
				return errEnoughItems
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnoughItems) {
			return err
		}
		ddl, skipped := parquetfmt.JSONLinesDDL(items, name, loc, comment)
		fmt.Fprint(a.stdout, ddl)
		if len(skipped) > 0 {
			fmt.Fprintf(a.stderr, "left out of the struct (not Hive identifiers, or equal to another but for case): %q; they are in the data, query them with --format parquet's item column\n", skipped)
		}
	default:
		return fmt.Errorf("snapshot %s is %s; athena-ddl knows PARQUET and DYNAMODB_JSON", st.URL(""), s.Summary.OutputFormat)
	}
	return nil
}
