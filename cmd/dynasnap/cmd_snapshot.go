package main

import "context"

func cmdSnapshot(ctx context.Context, a *app, args []string) error {
	return usageError{"not implemented yet"}
}
