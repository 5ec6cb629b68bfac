package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

func cmdVersion(ctx context.Context, a *app, args []string) error {
	fs := newFlags(a, "version", "version", "  dynasnap version")
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "dynasnap", version())
	return nil
}

func version() string {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	return v
}
