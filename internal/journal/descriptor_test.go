package journal_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/testsupport/membucket"
)

// A journal is never started in a folder that holds a per-item backup: it
// would hide that history from every reader.
func TestNoJournalOverItems(t *testing.T) {
	ctx := context.Background()
	b := membucket.New()
	b.Put(ctx, "p/t/"+strings.Repeat("a", 64), []byte(`{}`), false)
	err := journal.EnsureDescriptor(ctx, b, "p/t/", time.Minute, "test")
	if !errors.Is(err, journal.ErrHoldsItems) || !strings.Contains(err.Error(), "DYNASNAP_LAYOUT=items") {
		t.Fatalf("got %v, want ErrHoldsItems naming the fix", err)
	}
	if err := journal.EnsureDescriptor(ctx, b, "p/other/", time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	// Once a journal, a new lag is stored without the check.
	if err := journal.EnsureDescriptor(ctx, b, "p/other/", 2*time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
}
