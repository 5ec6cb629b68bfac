package deploy

import (
	"strings"
	"testing"
)

// Layout and JournalLag reach the writer as DYNASNAP_LAYOUT and
// DYNASNAP_JOURNAL_LAG (a duration the writer parses: "300s"); items stays
// the default until every reader reads a journal.
func TestLayoutParameters(t *testing.T) {
	tpl := deploy(t, nil)
	layout := tpl.Parameters["Layout"]
	if layout == nil || layout["Type"] != "String" || layout["Default"] != "journal" || js(layout["AllowedValues"]) != `["items","journal"]` {
		t.Errorf("Layout %v: want a String, items or journal, default journal", layout)
	}
	lag := tpl.Parameters["JournalLag"]
	if lag == nil || lag["Type"] != "Number" || lag["Default"] != float64(300) {
		t.Fatalf("JournalLag %v: want a Number of seconds defaulting to 300", lag)
	}
	// The lag must outlast a batch that times out once and is retried.
	timeout := get(t, tpl, "StreamFunction", "Timeout").(float64)
	window := get(t, tpl, "StreamMapping", "MaximumBatchingWindowInSeconds").(float64)
	if min, _ := lag["MinValue"].(float64); min < timeout/2 || lag["Default"].(float64) < 2*timeout+window {
		t.Errorf("JournalLag MinValue %v, Default %v: too short for the function's timeout %vs and batching window %vs", lag["MinValue"], lag["Default"], timeout, window)
	}
	if d, _ := lag["Description"].(string); !strings.Contains(d, "batching window") || !strings.Contains(d, "retries") {
		t.Errorf("JournalLag description %q: say it must exceed the batching window plus retries", d)
	}
	env := get(t, tpl, "StreamFunction", "Environment", "Variables").(map[string]any)
	if got := js(env["DYNASNAP_LAYOUT"]); got != `{"Ref":"Layout"}` {
		t.Errorf("DYNASNAP_LAYOUT = %s", got)
	}
	if got := js(env["DYNASNAP_JOURNAL_LAG"]); got != `{"Fn::Sub":"${JournalLag}s"}` {
		t.Errorf("DYNASNAP_JOURNAL_LAG = %s", got)
	}
	for name, params := range variants {
		p := map[string]string{"Layout": "journal", "JournalLag": "600"}
		for k, v := range params {
			p[k] = v
		}
		if _, _, err := resolve(t, p); err != nil {
			t.Errorf("%s with the journal layout: %v", name, err)
		}
	}
	if _, _, err := resolve(t, map[string]string{"Layout": "segments"}); err == nil {
		t.Error("Layout=segments accepted")
	}
}
