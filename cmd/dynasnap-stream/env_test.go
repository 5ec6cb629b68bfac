package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

// A layout or a lag the writer cannot use is an init error naming its
// variable, before any AWS call.
func TestLayoutEnvErrors(t *testing.T) {
	for _, tc := range []struct{ layout, lag, want string }{
		{"segments", "", "DYNASNAP_LAYOUT"},
		{"Journal", "", "DYNASNAP_LAYOUT"},
		{"journal", "5", "DYNASNAP_JOURNAL_LAG"},
		{"journal", "500ms", "DYNASNAP_JOURNAL_LAG"},
		{"journal", "-1m", "DYNASNAP_JOURNAL_LAG"},
	} {
		t.Setenv("DYNASNAP_BUCKET", "bkt")
		t.Setenv("DYNASNAP_LAYOUT", tc.layout)
		t.Setenv("DYNASNAP_JOURNAL_LAG", tc.lag)
		_, err := setup(context.Background(), slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("layout %q lag %q: error %v, want one naming %s", tc.layout, tc.lag, err, tc.want)
		}
	}
}
