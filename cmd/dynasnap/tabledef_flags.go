package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/tabledef"
)

// tableDefFlags are the flags of restore and drill that shape the table
// they create from the recorded definition (docs/DESIGN.md §7).
type tableDefFlags struct {
	file        string
	billing     string
	kmsKey      string
	class       string
	warm        int64
	keepExpired bool
	replicas    bool
	kinesis     bool
}

func (f *tableDefFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.file, "table-definition", "", "with --create-table: create the table from this definition file (a snapshot's table-definition.json, schemas/table-definition.schema.json) instead of the recorded one")
	fs.StringVar(&f.billing, "billing-mode", "", "with --create-table: PAY_PER_REQUEST or PROVISIONED instead of the recorded billing mode (PROVISIONED needs recorded capacities)")
	fs.StringVar(&f.kmsKey, "table-kms-key", "", "with --create-table: encrypt the new table with this KMS key (id, ARN or alias; 'default' for DynamoDB's AWS-owned key) instead of the recorded one, e.g. in another region")
	fs.StringVar(&f.class, "table-class", "", "with --create-table: STANDARD or STANDARD_INFREQUENT_ACCESS instead of the recorded table class")
	fs.Int64Var(&f.warm, "warm-write-units", 0, "with --create-table: pre-warm the new table for this many writes a second (CreateTable WarmThroughput; a new on-demand table starts at about 4,000), so a big restore does not spend its first hour ramping up")
	fs.BoolVar(&f.replicas, "replicas", false, "with --create-table: also create the recorded global table replicas (their regions, KMS keys, table classes, GSI overrides) after the load; each replica is a full, billed copy of the table and can take minutes to hours to create, so they are skipped (and listed) by default")
	fs.BoolVar(&f.kinesis, "kinesis-destinations", false, "with --create-table: also enable the recorded Kinesis streaming destinations on the new table; skipped by default, since the source table may still write into the same Kinesis stream")
	fs.BoolVar(&f.keepExpired, "keep-expired", false, "also load items whose TTL time (the recorded TTL attribute) has passed; by default they are skipped and counted, as DynamoDB would delete them again")
}

func (f *tableDefFlags) check() error {
	if err := f.overrides("").Check(); err != nil {
		return usageError{err.Error()}
	}
	return nil
}

// set reports whether a flag that needs --create-table was given.
func (f *tableDefFlags) set() bool {
	return f.file != "" || f.billing != "" || f.kmsKey != "" || f.class != "" || f.warm != 0 || f.replicas || f.kinesis
}

// recreate is what a created table gets after the load beyond the defaults.
func (f *tableDefFlags) recreate(region string, scaling tabledef.ScalingAPI, fn tabledef.LambdaAPI) tabledef.Recreate {
	return tabledef.Recreate{Scaling: scaling, Lambda: fn, Replicas: f.replicas, KinesisDestinations: f.kinesis, Region: region}
}

func (f *tableDefFlags) overrides(region string) tabledef.Overrides {
	return tabledef.Overrides{BillingMode: strings.ToUpper(f.billing), KMSKey: f.kmsKey, TableClass: strings.ToUpper(f.class),
		WarmWriteUnits: f.warm, Region: region}
}

// load reads --table-definition ("": none).
func (f *tableDefFlags) load() (*tabledef.Definition, error) {
	if f.file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(f.file)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--table-definition: %v", err)}
	}
	d, err := tabledef.Parse(b)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--table-definition %s: %v", f.file, err)}
	}
	return d, nil
}

// describeCreated sums up a table created from a definition.
func describeCreated(in *dynamodb.CreateTableInput) string {
	parts := []string{string(in.BillingMode)}
	if n := len(in.GlobalSecondaryIndexes); n > 0 {
		parts = append(parts, fmt.Sprintf("%d global secondary indexes", n))
	}
	if n := len(in.LocalSecondaryIndexes); n > 0 {
		parts = append(parts, fmt.Sprintf("%d local secondary indexes", n))
	}
	if in.SSESpecification != nil {
		parts = append(parts, "KMS encryption")
	}
	if in.TableClass != "" {
		parts = append(parts, string(in.TableClass))
	}
	if in.DeletionProtectionEnabled != nil && *in.DeletionProtectionEnabled {
		parts = append(parts, "deletion protection")
	}
	if in.WarmThroughput != nil {
		parts = append(parts, fmt.Sprintf("warm throughput %d writes/s", *in.WarmThroughput.WriteUnitsPerSecond))
	}
	return strings.Join(parts, ", ")
}

// regionOf is the region a DynamoDB client works in.
func regionOf(c *dynamodb.Client) string { return c.Options().Region }

var _ = context.Background

// printRecreated lists the settings a created table got after the load,
// and those skipped with the reason.
func printRecreated(w io.Writer, a tabledef.Applied) {
	if len(a.Done) > 0 {
		fmt.Fprintf(w, "set after the load: %s\n", strings.Join(a.Done, ", "))
	}
	for _, s := range a.Skipped {
		fmt.Fprintf(w, "not set: %s\n", s)
	}
	if a.StreamArn != "" && !a.Triggered {
		fmt.Fprintf(w, "new stream %s: point the stream writer's trigger at it to back the restored table up "+
			"(aws lambda create-event-source-mapping --function-name FUNCTION --event-source-arn %s --starting-position TRIM_HORIZON)\n", a.StreamArn, a.StreamArn)
	}
}
