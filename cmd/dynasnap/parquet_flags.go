package main

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/parquetfmt"
	"github.com/dynasnap/dynasnap/internal/snapshot"
)

// parquetFlags are the snapshot flags of --format parquet.
type parquetFlags struct {
	schema       *string
	inferSample  *int
	rowGroupSize *string
}

func addParquetFlags(fs *pflag.FlagSet) *parquetFlags {
	return &parquetFlags{
		schema: fs.String("schema", "", "parquet: table schema file (JSON, see schemas/table-schema.schema.json) naming the key and the typed columns; default: inferred from a sample"),
		inferSample: fs.Int("infer-sample", snapshot.DefaultInferSample,
			"parquet without --schema: infer column types from the first N items of the snapshot (in key order, a uniform sample)"),
		rowGroupSize: fs.String("row-group-size", "64MiB", "parquet: row group size, in item JSON bytes (KiB, MiB, GiB; zstd makes the group about 4x smaller)"),
	}
}

// options checks the flags; compressionSet says --compression was given
// (parquet defaults to zstd, JSON lines to gzip).
func (p *parquetFlags) options(format string, compression *string, compressionSet bool) (snapshot.ParquetOptions, error) {
	var o snapshot.ParquetOptions
	if format != snapshot.FormatParquet {
		if *p.schema != "" {
			return o, usageError{"--schema applies to --format parquet only"}
		}
		return o, nil
	}
	if !compressionSet {
		*compression = "zstd"
	}
	if *p.schema != "" {
		ts, err := parquetfmt.LoadSchema(*p.schema)
		if err != nil {
			return o, usageError{fmt.Sprintf("--schema: %v", err)}
		}
		o.Schema = ts
	}
	if *p.inferSample < 1 {
		return o, usageError{"--infer-sample must be at least 1"}
	}
	o.InferSample = *p.inferSample
	n, err := parseBytes(*p.rowGroupSize)
	if err != nil || n < 1<<20 {
		return o, usageError{fmt.Sprintf("--row-group-size %q: want a size of at least 1MiB, e.g. 64MiB", *p.rowGroupSize)}
	}
	o.RowGroupBytes = n
	o.Misses = &atomic.Int64{}
	return o, nil
}

// parseBytes reads 512, 64KiB, 64MiB, 1GiB (or KB/MB/GB, taken as the same
// powers of two).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional KiB, MiB or GiB", s)
	}
	return n * mult, nil
}
