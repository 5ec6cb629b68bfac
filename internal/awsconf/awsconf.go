// Package awsconf builds AWS clients the way the AWS CLI and SDKs do:
// credentials and region from the default chain, endpoints from
// AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB or an
// explicit --endpoint-url, path-style S3 addressing for custom endpoints.
package awsconf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/pflag"
)

// Options are the command-line overrides; zero values defer to the chain.
type Options struct {
	EndpointURL string // applies to every service, like the AWS CLI's flag
	Region      string
	Profile     string
	// SourceProfile is the identity that reads the backup bucket and the
	// snapshots read (--source, --snapshot, --base, drill folders); empty:
	// the same as everything else.
	SourceProfile string
	// ExpectedBucketOwner is the account that must own every bucket used:
	// sent as x-amz-expected-bucket-owner on each S3 request.
	ExpectedBucketOwner string
	// MaxConns sizes the HTTP connection pool: it should be at least the
	// number of requests a command keeps in flight.
	MaxConns int
}

// Clients holds the loaded configuration and builds service clients.
type Clients struct {
	Config aws.Config
	opts   Options
	cache  *regionCache // bucket regions, shared with source
	source *Clients     // the --source-profile identity; nil: this one

	mu       sync.Mutex
	byRegion map[string]*s3.Client
}

// Load resolves credentials, region and retry settings from the default chain.
func Load(ctx context.Context, opts Options) (*Clients, error) {
	if o := opts.ExpectedBucketOwner; o != "" && !accountID(o) {
		return nil, fmt.Errorf("--expected-bucket-owner %q: want a 12-digit AWS account ID", o)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 512
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = opts.MaxConns
		t.MaxIdleConnsPerHost = opts.MaxConns
		t.IdleConnTimeout = 90 * time.Second
	})
	loaders := []func(*config.LoadOptions) error{config.WithHTTPClient(httpClient)}
	if opts.Region != "" {
		loaders = append(loaders, config.WithRegion(opts.Region))
	}
	if opts.Profile != "" {
		loaders = append(loaders, config.WithSharedConfigProfile(opts.Profile))
	}
	if os.Getenv("AWS_MAX_ATTEMPTS") == "" {
		// Backups and restores run long; ride out throttling rather than fail.
		loaders = append(loaders, config.WithRetryMaxAttempts(10))
	}
	if os.Getenv("AWS_RETRY_MODE") == "" {
		loaders = append(loaders, config.WithRetryMode(aws.RetryModeStandard))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loaders...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	// The clients build their retryer from RetryMode unless the config has
	// one; build the same one here so it can be wrapped. RetryMaxAttempts is
	// still applied on top by each client.
	inner := cfg.Retryer
	if inner == nil {
		mode := cfg.RetryMode
		inner = func() aws.Retryer {
			if mode == aws.RetryModeAdaptive {
				return retry.NewAdaptiveMode()
			}
			return retry.NewStandard()
		}
	}
	cfg.Retryer = func() aws.Retryer { return retryTruncated(inner()) }
	if cfg.Region == "" {
		if customEndpoint(opts, "S3") || customEndpoint(opts, "DYNAMODB") {
			cfg.Region = "us-east-1"
		} else {
			return nil, fmt.Errorf("no AWS region: set AWS_REGION (or a profile's region) or pass --region")
		}
	}
	c := &Clients{Config: cfg, opts: opts, byRegion: map[string]*s3.Client{},
		cache: &regionCache{buckets: map[string]*regionLookup{}, lookups: map[string]int{}}}
	if opts.SourceProfile != "" && opts.SourceProfile != opts.Profile {
		so := opts
		so.Profile, so.SourceProfile, so.Region = opts.SourceProfile, "", cfg.Region
		src, err := Load(ctx, so)
		if err != nil {
			return nil, fmt.Errorf("--source-profile %s: %w", opts.SourceProfile, err)
		}
		src.cache = c.cache
		c.source = src
	}
	return c, nil
}

// Source is the identity that reads backups and snapshots: the
// --source-profile one, or these same clients.
func (c *Clients) Source() *Clients {
	if c.source != nil {
		return c.source
	}
	return c
}

func accountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// customEndpoint reports whether a non-AWS endpoint is configured for the
// service (S3 or DYNAMODB, as in AWS_ENDPOINT_URL_<SERVICE>).
func customEndpoint(opts Options, service string) bool {
	return opts.EndpointURL != "" || os.Getenv("AWS_ENDPOINT_URL_"+service) != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
}

// S3 returns the S3 client for the configured region; a bucket's own
// client comes from S3For. The SDK itself reads AWS_ENDPOINT_URL(_S3).
func (c *Clients) S3() *s3.Client { return c.s3In(c.Config.Region) }

func (c *Clients) newS3(region string) *s3.Client {
	return s3.NewFromConfig(c.Config, func(o *s3.Options) {
		o.Region = region
		if c.opts.EndpointURL != "" {
			o.BaseEndpoint = aws.String(c.opts.EndpointURL)
		}
		// Local S3 servers have no virtual-host DNS names for buckets.
		o.UsePathStyle = customEndpoint(c.opts, "S3")
		// Objects written without a checksum are normal here; the SDK would
		// print a line on stderr for each read of one.
		o.DisableLogOutputChecksumValidationSkipped = true
		o.APIOptions = append(o.APIOptions, bucketMiddleware(c.opts.ExpectedBucketOwner, region))
	})
}

// DynamoDB returns a DynamoDB client. The SDK reads AWS_ENDPOINT_URL(_DYNAMODB).
func (c *Clients) DynamoDB() *dynamodb.Client {
	return dynamodb.NewFromConfig(c.Config, func(o *dynamodb.Options) {
		if c.opts.EndpointURL != "" {
			o.BaseEndpoint = aws.String(c.opts.EndpointURL)
		}
	})
}

// ApplicationAutoScaling returns an Application Auto Scaling client (the
// auto scaling of a provisioned table and its GSIs). The SDK reads
// AWS_ENDPOINT_URL(_APPLICATION_AUTO_SCALING).
func (c *Clients) ApplicationAutoScaling() *applicationautoscaling.Client {
	return applicationautoscaling.NewFromConfig(c.Config, func(o *applicationautoscaling.Options) {
		if c.opts.EndpointURL != "" {
			o.BaseEndpoint = aws.String(c.opts.EndpointURL)
		}
	})
}

// Lambda returns a Lambda client (the event source mappings of a table's
// stream). The SDK reads AWS_ENDPOINT_URL(_LAMBDA).
func (c *Clients) Lambda() *lambda.Client {
	return lambda.NewFromConfig(c.Config, func(o *lambda.Options) {
		if c.opts.EndpointURL != "" {
			o.BaseEndpoint = aws.String(c.opts.EndpointURL)
		}
	})
}

// retryTruncated makes the retryer also retry a response whose body was cut
// short (io.ErrUnexpectedEOF while the SDK decodes it): that is as transient
// as a reset connection, which the standard retryer does retry, but it does
// not recognise this one, so one dropped connection mid-answer failed a
// whole snapshot or backfill (found by the reliability suite).
func retryTruncated(r aws.Retryer) aws.Retryer {
	if v2, ok := r.(aws.RetryerV2); ok {
		return truncatedRetryer{v2}
	}
	return r
}

type truncatedRetryer struct{ aws.RetryerV2 }

func (r truncatedRetryer) IsErrorRetryable(err error) bool {
	return r.RetryerV2.IsErrorRetryable(err) || errors.Is(err, io.ErrUnexpectedEOF)
}

// AddFlags adds the AWS connection flags every command that does I/O shares.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.EndpointURL, "endpoint-url", "", "send every AWS request to this URL (a local S3 or DynamoDB server); also AWS_ENDPOINT_URL(_S3|_DYNAMODB)")
	fs.StringVar(&o.Region, "region", "", "AWS region (default: from AWS_REGION or the profile)")
	fs.StringVar(&o.Profile, "profile", "", "named profile from the shared AWS config (default: AWS_PROFILE or default); with --source-profile, the identity for the table and the output")
	fs.StringVar(&o.SourceProfile, "source-profile", "", "named profile that reads the backup bucket and the snapshots read (default: as --profile)")
	fs.StringVar(&o.ExpectedBucketOwner, "expected-bucket-owner", "", "AWS account ID that must own every bucket used (sent as x-amz-expected-bucket-owner; a bucket owned by another account is refused)")
}
