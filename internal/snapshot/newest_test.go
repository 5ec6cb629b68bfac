package snapshot_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
)

// writeFiles lays out a snapshot folder by hand: name -> content.
func writeFiles(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestNewestVersion: the latest lastModified over every sidecar, read
// without the data files; a sidecar shorter than its manifest entry fails.
func TestNewestVersion(t *testing.T) {
	files := map[string]string{
		"manifest-summary.json": `{"exportTime":"2026-11-26T09:30:00Z","itemCount":3,"outputFormat":"DYNAMODB_JSON","dynasnap":{"compression":"none"}}`,
		"manifest-files.json": `{"itemCount":2,"dataFileS3Key":"data/part-00000.json","sidecarS3Key":"sidecar/part-00000.json"}
{"itemCount":1,"dataFileS3Key":"data/part-00001.json","sidecarS3Key":"sidecar/part-00001.json"}
{"itemCount":0,"dataFileS3Key":"data/part-00002.json"}
`,
		// No data files: NewestVersion must not need them.
		"sidecar/part-00000.json": `{"key":"t/a","versionId":"1","lastModified":"2026-11-26T09:10:00Z"}
{"key":"t/b","versionId":"2","lastModified":"2026-11-26T09:29:00Z"}
`,
		"sidecar/part-00001.json": `{"key":"t/c","versionId":"3","lastModified":"2026-11-26T09:20:00Z"}` + "\n",
	}
	ctx := context.Background()
	s, err := snapshot.Open(ctx, store.NewLocal(writeFiles(t, files)))
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.NewestVersion(ctx, 2)
	if want := time.Date(2026, 11, 26, 9, 29, 0, 0, time.UTC); err != nil || !ok || !got.Equal(want) {
		t.Errorf("got %v %v %v, want %v", got, ok, err, want)
	}

	files["sidecar/part-00001.json"] = ""
	s, err = snapshot.Open(ctx, store.NewLocal(writeFiles(t, files)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.NewestVersion(ctx, 2); err == nil || !strings.Contains(err.Error(), "has 0 lines, the manifest says 1 items") {
		t.Errorf("short sidecar: %v", err)
	}

	// An AWS export has no sidecar: the newest version is unknown.
	delete(files, "sidecar/part-00000.json")
	delete(files, "sidecar/part-00001.json")
	files["manifest-files.json"] = `{"itemCount":2,"dataFileS3Key":"data/part-00000.json"}` + "\n"
	files["manifest-summary.json"] = strings.Replace(files["manifest-summary.json"], `"itemCount":3`, `"itemCount":2`, 1)
	s, err = snapshot.Open(ctx, store.NewLocal(writeFiles(t, files)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.NewestVersion(ctx, 2); ok || err != nil {
		t.Errorf("no sidecar: ok %v err %v", ok, err)
	}
}
