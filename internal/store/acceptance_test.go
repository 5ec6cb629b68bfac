package store_test

import (
	"testing"

	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/storetest"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

func TestAcceptanceLocal(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewLocal(t.TempDir() + "/snap") })
}

// On SeaweedFS: the snapshot's folder is a prefix in a bucket that holds
// other folders, as an export bucket does.
func TestAcceptanceS3(t *testing.T) {
	c := testenv.Clients(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		bucket := testenv.Bucket(t, c, false)
		st, err := store.NewS3(c.S3(), layout.Location{Bucket: bucket, Prefix: "exports/orders/snap"}, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		// A sibling whose name starts with the folder's: never the store's.
		sibling, _ := store.NewS3(c.S3(), layout.Location{Bucket: bucket, Prefix: "exports/orders/snap-2"}, store.Options{})
		if err := sibling.Put(t.Context(), "data/x", []byte("other")); err != nil {
			t.Fatal(err)
		}
		return st
	})
}
