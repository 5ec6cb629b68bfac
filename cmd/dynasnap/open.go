package main

import (
	"os"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/store"
)

// openSnapshotStore opens a snapshot folder for reading.
func openSnapshotStore(clients *awsconf.Clients, snap string) (store.Store, error) {
	if layout.IsS3URL(snap) {
		return store.Open(clients, snap, store.Options{})
	}
	if _, err := os.Stat(snap); err != nil {
		return nil, err
	}
	return store.NewLocal(snap), nil
}
