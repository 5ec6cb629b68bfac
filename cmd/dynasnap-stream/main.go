// Command dynasnap-stream is the AWS Lambda that writes DynamoDB Streams
// records into the S3 versioned backup bucket (docs/DESIGN.md §2). Build it
// with `make lambda` for the provided.al2023 runtime (a binary named
// bootstrap).
//
// Environment:
//
//	DYNASNAP_BUCKET        the versioned backup bucket (required)
//	DYNASNAP_PREFIX        key prefix inside the bucket (default: none)
//	DYNASNAP_TABLE         table name in the layout (default: from the event source ARN)
//	DYNASNAP_CONCURRENCY   keys written at once (default 32)
//	DYNASNAP_SKIP_APPLIED  "false" turns off the per-key check that makes retries idempotent
//	DYNASNAP_DEFINITION_EVERY  how often a warm writer reads the table's definition again (default 1m;
//	                       it is always read on a cold start and stored when it changed)
//	DYNASNAP_RECORD_DEFINITION  "false" turns off recording the table's definition
//	DYNASNAP_EXPECTED_BUCKET_OWNER  account ID that must own the bucket (x-amz-expected-bucket-owner)
//	DYNASNAP_LAYOUT        "items" (default): one object version per change; "journal": one
//	                       segment object per batch (docs/DESIGN.md §2.9, §10)
//	DYNASNAP_JOURNAL_LAG   with the journal layout, the longest delay from a change to its
//	                       segment's store the deployment allows (batching window plus retries),
//	                       a Go duration of at least 1s (default 5m); recorded in the journal, it is
//	                       how long a snapshot at T waits before it reads
//	DYNASNAP_SOURCE       "dynamodb-stream" or "kinesis" (Kinesis Data Streams for DynamoDB,
//	                       docs/DESIGN.md §2.10); unset: either event shape, by its eventSource
//	DYNASNAP_MODE         "enroll": the fleet's enroller instead of the writer (enroll.go)
//	DYNASNAP_ITEMS_RECHECK with the journal layout in a folder holding a per-item backup (written
//	                       as items): how long before it looks again for a journal made by
//	                       compact --from-items (default 1m)
//	DYNASNAP_LOG_LEVEL     debug, info (default), warn, error; AWS_LAMBDA_LOG_LEVEL also works
//
// S3 and DynamoDB endpoints, region and credentials come the standard AWS
// way (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION, the
// execution role); the bucket's own region is looked up once at start
// (HeadBucket). The definition is read with DescribeTable,
// DescribeTimeToLive, ListTagsOfResource and DescribeContinuousBackups;
// without those permissions the writer logs one warning and keeps writing
// items (docs/DESIGN.md §2.8).
package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/stream"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: logLevel()}))
	if os.Getenv("DYNASNAP_MODE") == "enroll" {
		e, err := setupEnroller(context.Background(), log)
		if err != nil {
			log.Error("dynasnap-stream enroller cannot start", "error", err.Error())
			os.Exit(1)
		}
		lambda.Start(e.Handle)
		return
	}
	h, err := setup(context.Background(), log)
	if err != nil {
		// An init error: Lambda reports it and retries the init on the next event.
		log.Error("dynasnap-stream cannot start", "error", err.Error())
		os.Exit(1)
	}
	// Either event shape: DynamoDB Streams or Kinesis (DYNASNAP_SOURCE).
	lambda.Start(h.Invoke)
}

func setup(ctx context.Context, log *slog.Logger) (*stream.Handler, error) {
	cfg := stream.Config{
		Bucket:      os.Getenv("DYNASNAP_BUCKET"),
		Prefix:      os.Getenv("DYNASNAP_PREFIX"),
		Table:       os.Getenv("DYNASNAP_TABLE"),
		SkipApplied: !strings.EqualFold(os.Getenv("DYNASNAP_SKIP_APPLIED"), "false"),
	}
	if s := os.Getenv("DYNASNAP_CONCURRENCY"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("DYNASNAP_CONCURRENCY=%q is not a positive number", s)
		}
		cfg.Concurrency = n
	}
	switch s := os.Getenv("DYNASNAP_SOURCE"); s {
	case "", stream.SourceDynamoDBStream, stream.SourceKinesis:
		cfg.Source = s
	default:
		return nil, fmt.Errorf("DYNASNAP_SOURCE=%q is neither %q nor %q", s, stream.SourceDynamoDBStream, stream.SourceKinesis)
	}
	switch s := os.Getenv("DYNASNAP_LAYOUT"); s {
	case "", stream.LayoutItems, stream.LayoutJournal:
		cfg.Layout = s
	default:
		return nil, fmt.Errorf("DYNASNAP_LAYOUT=%q is neither %q nor %q", s, stream.LayoutItems, stream.LayoutJournal)
	}
	if s := os.Getenv("DYNASNAP_JOURNAL_LAG"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second {
			return nil, fmt.Errorf("DYNASNAP_JOURNAL_LAG=%q is not a duration of at least 1s (e.g. 300s)", s)
		}
		cfg.JournalLag = d
	}
	if s := os.Getenv("DYNASNAP_ITEMS_RECHECK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second {
			return nil, fmt.Errorf("DYNASNAP_ITEMS_RECHECK=%q is not a duration of at least 1s (e.g. 1m)", s)
		}
		cfg.ItemsRecheck = d
	}
	if cfg.Layout == stream.LayoutJournal && cfg.JournalLag == 0 {
		cfg.JournalLag = journal.DefaultLag
	}
	if s := os.Getenv("DYNASNAP_DEFINITION_EVERY"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("DYNASNAP_DEFINITION_EVERY=%q is not a positive duration (e.g. 1m)", s)
		}
		cfg.DefinitionEvery = d
	}
	clients, err := awsconf.Load(ctx, awsconf.Options{MaxConns: max(cfg.Concurrency, 32), ExpectedBucketOwner: os.Getenv("DYNASNAP_EXPECTED_BUCKET_OWNER")})
	if err != nil {
		return nil, err
	}
	record := !strings.EqualFold(os.Getenv("DYNASNAP_RECORD_DEFINITION"), "false")
	if record {
		cfg.DynamoDB = clients.DynamoDB()
		cfg.Scaling = clients.ApplicationAutoScaling()
		cfg.Lambda = clients.Lambda()
	}
	cfg.Tool = "dynasnap-stream"
	log.Info("dynasnap-stream starting", "bucket", cfg.Bucket, "prefix", cfg.Prefix, "table", cfg.Table,
		"concurrency", cfg.Concurrency, "skip_applied", cfg.SkipApplied, "record_definition", record,
		"layout", cmp.Or(cfg.Layout, stream.LayoutItems), "source", cfg.Source, "journal_lag", cfg.JournalLag.String())
	s3c, err := clients.S3For(ctx, cfg.Bucket)
	if err != nil {
		return nil, err
	}
	return stream.New(s3c, cfg, log)
}

func logLevel() slog.Level {
	s := os.Getenv("DYNASNAP_LOG_LEVEL")
	if s == "" {
		s = os.Getenv("AWS_LAMBDA_LOG_LEVEL")
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToLower(s))); err != nil {
		return slog.LevelInfo
	}
	return l
}
