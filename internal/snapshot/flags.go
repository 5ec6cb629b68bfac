package snapshot

import (
	"fmt"
	"sync/atomic"

	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/parquetfmt"
	"github.com/dynasnap/dynasnap/internal/units"
)

// OutputOptions are the flags of what a snapshot writes: the data files'
// format, compression and size, S3 encryption, and the Parquet layout.
type OutputOptions struct {
	Format       string
	Compression  string
	SingleFile   bool
	FileSize     string
	SSE          string
	SSEKMSKeyID  string
	Schema       string // parquet: table schema file
	InferSample  int    // parquet without Schema
	RowGroupSize string // parquet
	// KeepReplication keeps a legacy global table's aws:rep:* attributes.
	KeepReplication bool

	fs *pflag.FlagSet
}

// AddFlags adds the output flags.
func (o *OutputOptions) AddFlags(fs *pflag.FlagSet) {
	o.fs = fs
	fs.StringVar(&o.Format, "format", FormatJSONLines, "data file format: jsonl (DynamoDB JSON lines, as AWS exports write) or parquet (typed columns for Athena, zstd by default)")
	fs.StringVar(&o.Schema, "schema", "", "parquet: table schema file (JSON, see schemas/table-schema.schema.json) naming the key and the typed columns; default: inferred from a sample")
	fs.IntVar(&o.InferSample, "infer-sample", DefaultInferSample,
		"parquet without --schema: infer column types from the first N items of the snapshot (in key order, a uniform sample)")
	fs.StringVar(&o.RowGroupSize, "row-group-size", "64MiB", "parquet: row group size, in item JSON bytes (KiB, MiB, GiB; zstd makes the group about 4x smaller)")
	fs.BoolVar(&o.SingleFile, "single-file", false, "write the whole snapshot as one data file (still with its manifests)")
	fs.StringVar(&o.FileSize, "file-size", "256MiB", "cut data files once they hold this much item JSON (before compression): e.g. 64MiB, 1GiB")
	fs.StringVar(&o.Compression, "compression", "gzip", "data file compression: gzip, zstd or none")
	fs.StringVar(&o.SSE, "sse", "", "server-side encryption of S3 output: AES256 or aws:kms")
	fs.BoolVar(&o.KeepReplication, "keep-replication-attributes", false, "keep the aws:rep:* attributes (aws:rep:updateregion, aws:rep:updatetime, aws:rep:deleting) a legacy global table (2017.11.29) adds to its items; by default they are left out, and restore never writes them back")
	fs.StringVar(&o.SSEKMSKeyID, "sse-kms-key-id", "", "KMS key for --sse aws:kms (default: the AWS managed key)")
}

// Apply checks the flags for a snapshot into out (a local path or s3://)
// and sets the output fields of opts. Without --compression, Parquet is
// zstd and JSON lines gzip. The format and compression names themselves
// are checked by Run.
func (o *OutputOptions) Apply(out string, opts *Options) error {
	if o.Format != FormatParquet && o.Schema != "" {
		return fmt.Errorf("--schema applies to --format parquet only")
	}
	if !layout.IsS3URL(out) && (o.SSE != "" || o.SSEKMSKeyID != "") {
		return fmt.Errorf("--sse and --sse-kms-key-id apply to s3:// outputs only")
	}
	size, err := units.ParseSize(o.FileSize)
	if err != nil {
		return fmt.Errorf("--file-size: %v", err)
	}
	compression := o.Compression
	var pq ParquetOptions
	if o.Format == FormatParquet {
		if o.fs == nil || !o.fs.Changed("compression") {
			compression = "zstd"
		}
		if o.Schema != "" {
			ts, err := parquetfmt.LoadSchema(o.Schema)
			if err != nil {
				return fmt.Errorf("--schema: %v", err)
			}
			pq.Schema = ts
		}
		if o.InferSample < 1 {
			return fmt.Errorf("--infer-sample must be at least 1")
		}
		pq.InferSample = o.InferSample
		n, err := units.ParseSize(o.RowGroupSize)
		if err != nil || n < 1<<20 {
			return fmt.Errorf("--row-group-size %q: want a size of at least 1MiB, e.g. 64MiB", o.RowGroupSize)
		}
		pq.RowGroupBytes = n
		pq.Misses = &atomic.Int64{}
	}
	opts.Format, opts.Compression, opts.SingleFile, opts.FileSize = o.Format, compression, o.SingleFile, size
	opts.SSE, opts.SSEKMSKey, opts.Parquet = o.SSE, o.SSEKMSKeyID, pq
	opts.KeepReplication = o.KeepReplication
	return nil
}
