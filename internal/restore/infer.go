package restore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/layout"
)

// InferFromBackup reads the key schema from the first item of a backup
// folder: one page of its listing and one read.
func InferFromBackup(ctx context.Context, src history.Source, loc layout.Location) (keyschema.Schema, error) {
	page, err := src.List(ctx, loc.Dir(), history.Marker{}, 100)
	if err != nil {
		return keyschema.Schema{}, err
	}
	for _, e := range page.Entries {
		if e.IsDelete {
			continue
		}
		var buf bytes.Buffer
		it, err := history.ReadItem(ctx, src, e, &buf)
		if err != nil {
			return keyschema.Schema{}, err
		}
		return FromInferred(it, e.Key, "")
	}
	return keyschema.Schema{}, fmt.Errorf("no item in the first versions of %s to infer the key schema from; pass --key-schema", loc)
}

// DefaultCheckpoint names a restore's checkpoint after the table, the
// snapshot and the filter, in the user's cache folder, so rerunning the
// same command finds it.
func DefaultCheckpoint(table, snapURL string, exportTime time.Time, filter string) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for the checkpoint (%v); pass --checkpoint", err)
	}
	if abs, err := filepath.Abs(snapURL); err == nil && !layout.IsS3URL(snapURL) {
		snapURL = abs
	}
	id := snapURL + "\x00" + exportTime.UTC().Format(time.RFC3339Nano)
	if filter != "" { // unfiltered restores keep the names they had
		id += "\x00" + filter
	}
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(dir, "dynasnap", "restore", table+"-"+hex.EncodeToString(sum[:6])+".json"), nil
}
