package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/layout"
)

// checkReportOut refuses a --report-out that names a bucket but no key,
// before any work starts.
func checkReportOut(dest string) error {
	if dest != "" && layout.IsS3URL(dest) {
		if loc, err := layout.ParseS3URL(dest); err != nil || loc.Prefix == "" {
			return usageError{fmt.Sprintf("--report-out %q: give s3://BUCKET/KEY", dest)}
		}
	}
	return nil
}

// writeReportOut writes a job's JSON report to --report-out: a local file,
// or one PUT (where dynasnap status reads a table's newest drill or audit,
// docs/DESIGN.md §11). It has a context of its own, so the report of an
// interrupted job is kept too.
func writeReportOut(ctx context.Context, clients *awsconf.Clients, dest string, report any) error {
	body, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	if !layout.IsS3URL(dest) {
		if err := os.WriteFile(dest, append(body, '\n'), 0o644); err != nil {
			return fmt.Errorf("--report-out: %w", err)
		}
		return nil
	}
	if clients == nil {
		return fmt.Errorf("--report-out %s: no AWS clients", dest)
	}
	loc, _ := layout.ParseS3URL(dest)
	c, err := clients.S3For(ctx, loc.Bucket)
	if err != nil {
		return fmt.Errorf("--report-out %s: %w", dest, err)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, err = c.PutObject(wctx, &s3.PutObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Prefix),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json")})
	if err != nil {
		return fmt.Errorf("--report-out: put %s: %w", dest, err)
	}
	return nil
}
