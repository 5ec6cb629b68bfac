package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/backfill"
	"github.com/dynasnap/dynasnap/internal/enroll"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/status"
	"github.com/dynasnap/dynasnap/internal/stream"
)

// With DYNASNAP_MODE=enroll the same binary is the fleet's enroller
// (deploy/fleet.json, docs/DESIGN.md §11.2), run by EventBridge:
//
//	DYNASNAP_BUCKET, DYNASNAP_PREFIX  the backup prefix: a table's backup is PREFIX/TABLE
//	DYNASNAP_LAYOUT, DYNASNAP_JOURNAL_LAG  how the first backfill writes (as the writer's)
//	DYNASNAP_WRITER_FUNCTION   the writer function attached to each enrolled table's stream
//	DYNASNAP_TAG_KEY, DYNASNAP_TAG_VALUE  the tag that enrols a table (dynasnap:backup=true)
//	DYNASNAP_ENABLE_STREAMS    "true": turn a tagged table's stream on (NEW_AND_OLD_IMAGES) when off
//	DYNASNAP_BATCH_SIZE, DYNASNAP_MAX_RETRY_ATTEMPTS, DYNASNAP_FAILURE_QUEUE_ARN  the mappings' settings
//	AWS_ENDPOINT_URL_LAMBDA    Lambda's endpoint (default https://lambda.REGION.amazonaws.com)
func setupEnroller(ctx context.Context, log *slog.Logger) (*enroll.Enroller, error) {
	bucket := os.Getenv("DYNASNAP_BUCKET")
	if bucket == "" {
		return nil, fmt.Errorf("no bucket: set DYNASNAP_BUCKET")
	}
	fn := os.Getenv("DYNASNAP_WRITER_FUNCTION")
	if fn == "" {
		return nil, fmt.Errorf("no writer: set DYNASNAP_WRITER_FUNCTION")
	}
	num := func(name string, def, lo, hi int) (int32, error) {
		s := os.Getenv(name)
		if s == "" {
			return int32(def), nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%s=%q is not a number from %d to %d", name, s, lo, hi)
		}
		return int32(n), nil
	}
	batch, err := num("DYNASNAP_BATCH_SIZE", 100, 1, 10000)
	if err != nil {
		return nil, err
	}
	retries, err := num("DYNASNAP_MAX_RETRY_ATTEMPTS", 10, -1, 10000)
	if err != nil {
		return nil, err
	}
	lag := journal.DefaultLag
	if s := os.Getenv("DYNASNAP_JOURNAL_LAG"); s != "" {
		if lag, err = time.ParseDuration(s); err != nil || lag < time.Second {
			return nil, fmt.Errorf("DYNASNAP_JOURNAL_LAG=%q is not a duration of at least 1s", s)
		}
	}
	layoutName := os.Getenv("DYNASNAP_LAYOUT")
	switch layoutName {
	case "", stream.LayoutItems, stream.LayoutJournal:
	default:
		return nil, fmt.Errorf("DYNASNAP_LAYOUT=%q is neither %q nor %q", layoutName, stream.LayoutItems, stream.LayoutJournal)
	}
	clients, err := awsconf.Load(ctx, awsconf.Options{MaxConns: 64, ExpectedBucketOwner: os.Getenv("DYNASNAP_EXPECTED_BUCKET_OWNER")})
	if err != nil {
		return nil, err
	}
	s3c, err := clients.S3For(ctx, bucket)
	if err != nil {
		return nil, err
	}
	backups := layout.Location{Bucket: bucket, Prefix: strings.Trim(os.Getenv("DYNASNAP_PREFIX"), "/")}
	ddb := clients.DynamoDB()
	endpoint := os.Getenv("AWS_ENDPOINT_URL_LAMBDA")
	if endpoint == "" {
		endpoint = lambdaEndpoint(clients.Config.Region)
	}
	cfg := enroll.Config{
		TagKey: os.Getenv("DYNASNAP_TAG_KEY"), TagValue: os.Getenv("DYNASNAP_TAG_VALUE"), Function: fn,
		EnableStreams: strings.EqualFold(os.Getenv("DYNASNAP_ENABLE_STREAMS"), "true"),
		Mapping:       enroll.MappingSettings{BatchSize: batch, MaximumRetryAttempts: retries, OnFailure: os.Getenv("DYNASNAP_FAILURE_QUEUE_ARN")},
		Backups:       backups, Results: status.DefaultResults(backups),
		Backfill: func(ctx context.Context, table string) error {
			opts := backfill.Options{Table: table, Dest: backups, Segments: 4, Concurrency: 32, Tool: "dynasnap-stream enroll"}
			if layoutName == stream.LayoutJournal {
				// A table folder that holds items stays items, as for the writer.
				jb := &journal.S3Bucket{Client: s3c, Bucket: bucket}
				dir := backups.Child(table).Dir()
				if err := journal.EnsureDescriptor(ctx, jb, dir, lag, "dynasnap-stream enroll"); err == nil {
					opts.Journal, opts.JournalLag = jb, lag
				}
			}
			st, err := backfill.Run(ctx, ddb, s3c, opts)
			log.Info("backfill", "table", table, "scanned", st.Scanned, "written", st.Written, "existing", st.Existing, "error", errString(err))
			return err
		},
	}
	log.Info("dynasnap-stream enroller starting", "bucket", bucket, "prefix", backups.Prefix, "writer", fn,
		"enable_streams", cfg.EnableStreams, "batch_size", batch, "layout", layoutName)
	return &enroll.Enroller{DynamoDB: ddb, Lambda: &enroll.LambdaClient{Endpoint: endpoint, Config: clients.Config}, S3: s3c, Config: cfg, Log: log}, nil
}

// lambdaEndpoint is Lambda's regional endpoint.
func lambdaEndpoint(region string) string {
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return "https://lambda." + region + "." + suffix
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
