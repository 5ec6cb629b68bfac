package main

import (
	"context"
	"fmt"
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

func loadAWS(ctx context.Context, o *awsconf.Options, maxConns int) (*awsconf.Clients, error) {
	o.MaxConns = maxConns
	return awsconf.Load(ctx, *o)
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

// parseSize reads a byte size: a number with an optional KiB, MiB, GiB
// (or KB, MB, GB) suffix.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mult := s, int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q: want a size such as 64MiB or 1GiB", s)
	}
	return int64(n * float64(mult)), nil
}
