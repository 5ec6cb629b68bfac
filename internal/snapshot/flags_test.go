package snapshot

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestOutputOptions(t *testing.T) {
	apply := func(out string, args ...string) (Options, error) {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		var o OutputOptions
		o.AddFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		var opts Options
		return opts, o.Apply(out, &opts)
	}
	if o, err := apply("./x"); err != nil || o.Format != FormatJSONLines || o.Compression != "gzip" || o.FileSize != DefaultFileSize || o.Parquet.Misses != nil {
		t.Errorf("defaults: %+v %v", o, err)
	}
	if o, err := apply("./x", "--format", "parquet", "--row-group-size", "2MiB"); err != nil || o.Compression != "zstd" || o.Parquet.RowGroupBytes != 2<<20 || o.Parquet.InferSample != DefaultInferSample {
		t.Errorf("parquet: %+v %v", o, err)
	}
	if o, err := apply("s3://b/x", "--format", "parquet", "--compression", "gzip", "--sse", "AES256", "--file-size", "1.5GB"); err != nil || o.Compression != "gzip" || o.SSE != "AES256" || o.FileSize != 1.5e9 {
		t.Errorf("parquet, gzip: %+v %v", o, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--schema", "s.json"}, "--format parquet only"},
		{[]string{"--sse", "AES256"}, "s3:// outputs only"},
		{[]string{"--file-size", "0"}, "--file-size"},
		{[]string{"--format", "parquet", "--row-group-size", "512KiB"}, "at least 1MiB"},
		{[]string{"--format", "parquet", "--infer-sample", "0"}, "--infer-sample"},
		{[]string{"--format", "parquet", "--schema", "/nonexistent.json"}, "--schema"},
	} {
		if _, err := apply("./x", c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
