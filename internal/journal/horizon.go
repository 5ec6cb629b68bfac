package journal

import (
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
)

// Horizon is a journal's horizon for the time rule (docs/DESIGN.md
// §10.11): the bucket's lifecycle rules act on versions, which a journal
// does not read, so its horizon is what compaction kept.
func Horizon(d *Descriptor, bucket, folder string, now time.Time) *history.Horizon {
	return &history.Horizon{Bucket: bucket, Folder: folder, Now: now, Read: true}
}
