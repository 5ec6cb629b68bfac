// Package fakesnap writes made-up finished snapshot folders for tests that
// handle snapshots as whole folders (forget, drill's search): manifests
// with a chosen exportTime and source, and placeholder data files.
package fakesnap

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

// Put writes a finished snapshot of source at exportTime with files data
// files into st.
func Put(t *testing.T, st store.Store, exportTime time.Time, source string, files int) {
	t.Helper()
	ctx := context.Background()
	var manifest strings.Builder
	for i := range files {
		name := fmt.Sprintf("data/part-%05d.json.gz", i)
		if err := st.Put(ctx, name, []byte("x")); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&manifest, `{"itemCount":1,"dataFileS3Key":"%s"}`+"\n", name)
	}
	if err := st.Put(ctx, snapshot.FilesName, []byte(manifest.String())); err != nil {
		t.Fatal(err)
	}
	// The summary agrees with the file list, as readers check.
	sum, _ := json.Marshal(snapshot.Summary{ExportTime: exportTime, ItemCount: int64(files), Dynasnap: snapshot.Details{Source: source}})
	if err := st.Put(ctx, snapshot.SummaryName, sum); err != nil {
		t.Fatal(err)
	}
}
