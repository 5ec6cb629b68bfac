package history

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/layout"
)

// PlanOptions are the flags every command that walks a table shares: which
// part of it (ranges, shard) and how hard (listings, reads in flight).
type PlanOptions struct {
	Ranges          string
	ListConcurrency int
	PageSize        int32
	Shard           string
	Fetchers        int
}

// AddFlags adds the walk flags; fetchers names the flag for reads in
// flight (snapshot calls it --concurrency) with its default.
func (o *PlanOptions) AddFlags(fs *pflag.FlagSet, fetchers string, fetchersDefault int) {
	fs.StringVar(&o.Ranges, "ranges", "auto", "key ranges the table is split into by hex prefix of the object id: auto (the finest split, listed adaptively), or 1 to 65536")
	fs.IntVar(&o.ListConcurrency, "list-concurrency", DefaultListConcurrency, "prefixes listed at once")
	fs.Int32Var(&o.PageSize, "page-size", 0, "versions per ListObjectVersions page (default: the server's, 1000)")
	fs.StringVar(&o.Shard, "shard", "", "one shard of the key space: I/N (0-based), or auto/N to take I from JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX")
	fs.IntVar(&o.Fetchers, fetchers, fetchersDefault, "GetObject requests in flight")
}

// Plan validates the flags.
func (o *PlanOptions) Plan() (Plan, error) {
	var p Plan
	n, err := ParseRanges(o.Ranges)
	if err != nil {
		return p, fmt.Errorf("--ranges: %w", err)
	}
	if o.ListConcurrency < 1 {
		return p, fmt.Errorf("--list-concurrency must be at least 1")
	}
	if o.PageSize < 0 || o.PageSize > MaxPageSize {
		return p, fmt.Errorf("--page-size must be 1 to %d", MaxPageSize)
	}
	if o.Fetchers < 1 {
		return p, fmt.Errorf("the number of GetObject requests in flight must be at least 1")
	}
	p = Plan{Ranges: n, ListConcurrency: o.ListConcurrency, PageSize: o.PageSize}
	if p.Shard, p.Shards, err = ParseShard(o.Shard); err != nil {
		return p, fmt.Errorf("--shard: %w", err)
	}
	return p, nil
}

// ParseShard reads I/N, or auto/N with I from the index a Kubernetes
// Indexed Job or an AWS Batch array job sets; "" is not sharded (0, 0).
func ParseShard(s string) (int, int, error) {
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

// TimeOptions is the clock-skew allowance of the time rule, and whether a
// time beyond the lifecycle horizon is only a warning.
type TimeOptions struct {
	ClockSkew           time.Duration
	AllowPartialHistory bool
}

// AddFlags adds --clock-skew and --allow-partial-history.
func (o *TimeOptions) AddFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.ClockSkew, "clock-skew", DefaultClockSkew, "how far the S3 server's clock may be ahead of this machine's: a listing for a time in the current second waits until that second is over by this much")
	fs.BoolVar(&o.AllowPartialHistory, "allow-partial-history", false, "read at a time older than the bucket's lifecycle rules keep the history exact (noncurrent versions expired), with a loud warning instead of an error")
}

// CheckHorizon is the one horizon check of the time rule: it reads the
// lifecycle rules of src's bucket once and checks the times against the
// horizon of folder (PREFIX/TABLE). It returns the horizon and the warnings
// for the summary and --json; a time beyond it is an error unless
// --allow-partial-history.
func (o *TimeOptions) CheckHorizon(ctx context.Context, src Source, folder string, times ...At) (*Horizon, []string, error) {
	h, err := ReadHorizon(ctx, src, folder, time.Now())
	if err != nil {
		return nil, nil, err
	}
	warns, err := h.Check(o.AllowPartialHistory, times...)
	return h, warns, err
}

// Skew is the allowance as the packages take it (negative: none).
func (o *TimeOptions) Skew() time.Duration {
	if o.ClockSkew <= 0 {
		return -1
	}
	return o.ClockSkew
}

// ParseSource reads a --source flag: the table's backup folder,
// s3://BUCKET/PREFIX/TABLE, the same form for every command.
func ParseSource(s string) (layout.Location, error) {
	src, err := layout.ParseS3URL(s)
	if err != nil || src.Prefix == "" {
		return src, fmt.Errorf("--source must name the table's backup folder, s3://BUCKET/PREFIX/TABLE")
	}
	return src, nil
}
