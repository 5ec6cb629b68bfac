package main

import (
	"context"
	"fmt"
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
	return checkFlagValues(fs)
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
