package memsource

import (
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/testsupport/sourcetest"
)

// writer stamps each change with the current second, as S3 does: a run
// of the suite writes many changes within one second.
type writer struct{ b *Bucket }

func (w writer) Put(t *testing.T, key string, body []byte) string {
	return w.b.Put(key, body, time.Now().Truncate(time.Second))
}

func (w writer) Delete(t *testing.T, key string) string {
	return w.b.Delete(key, time.Now().Truncate(time.Second))
}

// The in-memory bucket that stands in for S3 in unit tests follows the
// same rules as S3 (internal/history/s3source runs the same suite).
func TestAcceptance(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) (history.Source, sourcetest.Writer) {
		b := New("mem")
		return b, writer{b}
	})
}

// With every page after the first starting with the last entry of the
// page before, as some servers list.
func TestAcceptanceRepeatLast(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) (history.Source, sourcetest.Writer) {
		b := New("mem")
		b.RepeatLast = true
		return b, writer{b}
	})
}
