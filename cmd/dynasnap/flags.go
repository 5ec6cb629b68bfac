package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/keyschema"
)

// newFlags makes a command's flag set, with its usage text and examples.
func newFlags(a *app, name, synopsis, examples string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		fmt.Fprintf(a.stdout, "Usage: dynasnap %s\n\n", synopsis)
		fmt.Fprintf(a.stdout, "Flags:\n%s", fs.FlagUsages())
		if examples != "" {
			fmt.Fprintf(a.stdout, "\nExamples:\n%s\n", strings.TrimRight(examples, "\n"))
		}
	}
	return fs
}

// parse parses args and turns flag errors into usage errors.
func parse(fs *pflag.FlagSet, args []string) error {
	fs.SetOutput(discard{})
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return err // pflag has printed the usage already
		}
		return usageError{err.Error()}
	}
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// awsFlags adds the AWS connection flags every I/O command shares.
func awsFlags(fs *pflag.FlagSet) *awsconf.Options {
	o := &awsconf.Options{}
	fs.StringVar(&o.EndpointURL, "endpoint-url", "", "send every AWS request to this URL (a local S3 or DynamoDB server); also AWS_ENDPOINT_URL(_S3|_DYNAMODB)")
	fs.StringVar(&o.Region, "region", "", "AWS region (default: from AWS_REGION or the profile)")
	fs.StringVar(&o.Profile, "profile", "", "named profile from the shared AWS config (default: AWS_PROFILE or default)")
	return o
}

func loadAWS(ctx context.Context, o *awsconf.Options, maxConns int) (*awsconf.Clients, error) {
	o.MaxConns = maxConns
	return awsconf.Load(ctx, *o)
}

// parseShardSpec reads --shard I/N or auto/N; N == 0 means not sharded.
func parseShardSpec(s string) (int, int, error) {
	if s == "" {
		return 0, 0, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n < 1 {
		return 0, 0, fmt.Errorf("%q: want I/N or auto/N, e.g. 0/4", s)
	}
	if is == "auto" {
		for _, env := range []string{"JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"} {
			if v := os.Getenv(env); v != "" {
				is = v
				break
			}
		}
		if is == "auto" {
			return 0, 0, fmt.Errorf("auto/%d: neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array job) is set", n)
		}
	}
	i, err := strconv.Atoi(is)
	if err != nil || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("%q: the shard index must be 0..%d", s, n-1)
	}
	return i, n, nil
}

// keySchemaFlag parses --key-schema HASH:TYPE[,RANGE:TYPE]; nil when not given.
func keySchemaFlag(v string) (*keyschema.Schema, error) {
	if v == "" {
		return nil, nil
	}
	s, err := keyschema.Parse(v)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--key-schema: %v", err)}
	}
	return &s, nil
}
