package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/parquetfmt"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

const athenaDDLExamples = `  # a Parquet snapshot in S3: its data/ folder is the table's location
  dynasnap athena-ddl s3://analytics/orders/2026-11-26 --table-name orders_20261126

  # a JSON-lines snapshot as a map of every attribute: no sample, nothing left out
  dynasnap athena-ddl s3://analytics/orders/jl --style map
  #   SELECT item['pk'].s, item['order-id'].n, json_extract_scalar(item['addr'].m, '$.city.S') FROM orders

  # an incremental export (diff --out, or AWS's): Metadata, Keys, NewImage, OldImage
  dynasnap athena-ddl s3://exports/orders-changes/0900 --table-name orders_changes_0900

  # a local snapshot, to be copied to S3 first (aws s3 sync ./snap s3://analytics/orders/snap)
  dynasnap athena-ddl ./snap --location s3://analytics/orders/snap

  # a change journal (the backup's table folder): a table of its files and a view of every change once
  dynasnap athena-ddl s3://backups/dynasnap/orders --table-name orders_changes
  #   SELECT * FROM orders_changes WHERE keys['pk'].s = 'order#123' ORDER BY timems`

var errEnoughItems = errors.New("enough items")

func cmdAthenaDDL(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "athena-ddl", "athena-ddl SNAPSHOT|EXPORT|JOURNAL [--style struct|map] [--table-name NAME] [--location s3://BUCKET/PREFIX]", athenaDDLExamples)
	tableName := fs.String("table-name", "", "the Athena table's name (default: the snapshot's table)")
	location := fs.String("location", "", "the S3 folder the snapshot or export (as named on the command line) is copied to; its data/ folder becomes the table's LOCATION (default: the snapshot's own, if it is in S3)")
	style := fs.String("style", parquetfmt.StyleStruct, "JSON-lines snapshots: struct (Item a struct of the attributes found in --sample items, typed by what was seen) or map (Item a map of every attribute, no sample)")
	sample := fs.Int("sample", 1000, "JSON-lines snapshots, --style struct: items read to find the attributes and their types")
	var awsOpts awsconf.Options
	awsOpts.AddFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"name one snapshot or incremental export: a local folder or s3://BUCKET/PREFIX"}
	}
	if *tableName != "" && !athenaName.MatchString(*tableName) {
		// It goes into HiveQL: refused rather than escaped, as Athena
		// takes no other characters in a table name.
		return usageError{fmt.Sprintf("--table-name %q: Athena table names hold only letters, digits and '_' (at most 255); for example %s", *tableName, parquetfmt.Identifier(*tableName))}
	}
	if *style != parquetfmt.StyleStruct && *style != parquetfmt.StyleMap {
		return usageError{fmt.Sprintf("--style %q: want struct or map", *style)}
	}
	snapURL := fs.Arg(0)
	loc := *location
	if loc == "" {
		if !layout.IsS3URL(snapURL) {
			return usageError{"a local snapshot has no S3 location: pass --location s3://BUCKET/PREFIX where you copy it"}
		}
	} else if !layout.IsS3URL(loc) {
		return usageError{fmt.Sprintf("--location %q: want s3://BUCKET/PREFIX", loc)}
	}

	clients, err := loadAWS(ctx, &awsOpts, 8)
	if err != nil {
		return err
	}
	if done, err := journalDDL(ctx, a, clients, snapURL, *location, *tableName, fs.Changed("style")); done || err != nil {
		return err
	}
	st, err := store.Open(clients.Source(), snapURL, store.Options{})
	if err != nil {
		return usageError{err.Error()}
	}
	// The export itself may be below the folder named (AWSDynamoDB/<id>/).
	found, err := snapshot.Locate(ctx, st)
	if err != nil {
		return err
	}
	if loc == "" {
		loc = found.URL("")
	} else {
		loc = strings.TrimSuffix(loc, "/") + "/" + strings.TrimPrefix(strings.TrimPrefix(found.URL(""), st.URL("")), "/")
	}
	loc = strings.TrimSuffix(loc, "/")
	if !strings.HasSuffix(loc, "/"+snapshot.DataDir) {
		loc += "/" + snapshot.DataDir
	}
	loc += "/"
	sum, err := snapshot.ReadSummary(ctx, found)
	if err != nil {
		return err
	}
	name := *tableName
	if name == "" {
		name = parquetfmt.Identifier(exportTable(sum))
	}
	source := sum.Dynasnap.Source
	if source == "" && sum.TableARN != nil {
		source = *sum.TableARN
	}

	if sum.Incremental() {
		if fs.Changed("style") && *style != parquetfmt.StyleMap {
			return usageError{"an incremental export's images are always in the map style (Keys, NewImage, OldImage as maps of every attribute): leave --style out"}
		}
		if _, err := snapshot.OpenChanges(ctx, found); err != nil {
			return err
		}
		comment := fmt.Sprintf("incremental export of %s over [%s, %s)", source,
			sum.ExportFromTime.UTC().Format(time.RFC3339Nano), sum.ExportToTime.UTC().Format(time.RFC3339Nano))
		fmt.Fprint(a.stdout, parquetfmt.ChangesDDL(name, loc, comment))
		return nil
	}
	s, err := snapshot.Open(ctx, found)
	if err != nil {
		return err
	}
	kind := "DynamoDB export"
	if s.Summary.Dynasnap.Tool != "" {
		kind = "dynasnap snapshot"
	}
	comment := fmt.Sprintf("%s of %s at %s", kind, source, s.Summary.ExportTime.UTC().Format(time.RFC3339))
	switch s.Summary.OutputFormat {
	case "PARQUET":
		if fs.Changed("style") {
			return usageError{"--style is for JSON-lines snapshots; a Parquet snapshot's columns are its table-schema.json"}
		}
		ts, err := s.TableSchema(ctx)
		if err != nil {
			return err
		}
		ddl, err := parquetfmt.ParquetDDL(ts, name, loc, comment)
		if err != nil {
			return fmt.Errorf("table schema of %s: %w", s.Store.URL(""), err)
		}
		fmt.Fprint(a.stdout, ddl)
	case "DYNAMODB_JSON", "":
		if *style == parquetfmt.StyleMap {
			fmt.Fprint(a.stdout, parquetfmt.MapDDL(name, loc, comment))
			return nil
		}
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
		fmt.Fprint(a.stdout, parquetfmt.JSONLinesDDL(items, name, loc, comment))
	default:
		return fmt.Errorf("snapshot %s is %s; athena-ddl knows PARQUET and DYNAMODB_JSON", s.Store.URL(""), s.Summary.OutputFormat)
	}
	return nil
}

// exportTable is the table an export is of: dynasnap's record of it, or
// the last part of the table's ARN (AWS's exports).
func exportTable(sum *snapshot.Summary) string {
	if sum.Dynasnap.Table != "" {
		return sum.Dynasnap.Table
	}
	if sum.TableARN != nil {
		if i := strings.LastIndex(*sum.TableARN, "/"); i >= 0 {
			return (*sum.TableARN)[i+1:]
		}
	}
	return "dynamodb_export"
}

// journalDDL prints the DDL of a change journal when url is a table
// folder holding one (docs/DESIGN.md §10.12); done is false otherwise.
func journalDDL(ctx context.Context, a *app, clients *awsconf.Clients, url, location, name string, styled bool) (done bool, err error) {
	if !layout.IsS3URL(url) {
		return false, nil
	}
	src, err := layout.ParseS3URL(url)
	if err != nil || src.Prefix == "" {
		return false, nil
	}
	hs, err := s3source.NewIn(ctx, clients.Source(), src.Bucket)
	if err != nil {
		return false, err
	}
	defer hs.Close()
	d, err := journal.ReadDescriptor(ctx, hs.Journal(), src.Dir())
	if errors.Is(err, journal.ErrNoJournal) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	if styled {
		return true, usageError{"a journal's images are always in the map style (Keys and NewImage maps of every attribute): leave --style out"}
	}
	if name == "" {
		name = parquetfmt.Identifier(path.Base(strings.TrimSuffix(src.Prefix, "/")))
	}
	loc := strings.TrimSuffix(url, "/")
	if location != "" {
		loc = strings.TrimSuffix(location, "/")
	}
	comment := fmt.Sprintf("change journal of %s (lag %ds)", strings.TrimSuffix(url, "/"), d.LagSeconds)
	fmt.Fprint(a.stdout, parquetfmt.JournalDDL(name, loc+"/"+journal.Folder, comment, d.LagSeconds))
	return true, nil
}
