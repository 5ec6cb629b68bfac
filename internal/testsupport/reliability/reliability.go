// Package reliability records the figures of the reliability suite (fault,
// bad-input, crash and security tests) so that docs/RELIABILITY.md is
// rendered from a real run rather than written by hand. Tests call Record;
// it does nothing unless DYNASNAP_RELIABILITY_OUT names a file, which
// `make reliability` sets.
package reliability

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Env names the JSON-lines file the figures are appended to.
const Env = "DYNASNAP_RELIABILITY_OUT"

// Result is one row of docs/RELIABILITY.md.
type Result struct {
	Area     string           `json:"area"`               // snapshot, restore, backfill, stream writer, security, ...
	Tried    string           `json:"tried"`              // the fault or bad input
	Outcome  string           `json:"outcome"`            // what the tool did
	Rate     float64          `json:"rate,omitempty"`     // fault rate, 0..1
	Seed     uint64           `json:"seed,omitempty"`     // the proxy's seed
	Requests int64            `json:"requests,omitempty"` // requests the proxy saw
	Injected map[string]int64 `json:"injected,omitempty"` // faults injected, by kind
	Faults   int64            `json:"faults"`             // total injected
	Retries  int64            `json:"retries"`            // repeated identical requests the proxy saw
	Checked  int64            `json:"itemsChecked"`       // items compared with the model
	Lost     int64            `json:"itemsLost"`          // items missing or different: must be 0
	Exit     int              `json:"exit"`               // the command's exit code (-1: in-process API)
	Message  string           `json:"message,omitempty"`  // the error or summary line shown to the user
	// Class groups a hostile input with its kind (docs/RELIABILITY.md's
	// table of classes); Handled says the tool did what the test wants.
	Class   string    `json:"class,omitempty"`
	Handled bool      `json:"handled,omitempty"`
	Test    string    `json:"test"`
	Seconds float64   `json:"seconds,omitempty"`
	At      time.Time `json:"at"`
}

var mu sync.Mutex

// Record appends r to the figures file, if one is configured.
func Record(t testing.TB, r Result) {
	t.Helper()
	path := os.Getenv(Env)
	if path == "" {
		return
	}
	r.Test = t.Name()
	r.At = time.Now().UTC()
	r.Message = FirstLine(r.Message)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("reliability: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// O_APPEND with one write per line: several test binaries append at once.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("reliability: open %s: %v", path, err)
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		t.Fatalf("reliability: write %s: %v", path, err)
	}
}

// FirstLine is the line of s that the user reads as the error (the one
// starting "dynasnap ", else the first that is not an SDK warning), trimmed
// to 300 characters, for a table cell.
func FirstLine(s string) string {
	pick := ""
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "dynasnap ") {
			pick = l
			break
		}
		if pick == "" && l != "" && !strings.HasPrefix(l, "SDK ") {
			pick = l
		}
	}
	if len(pick) > 300 {
		pick = pick[:300] + "…"
	}
	return pick
}

// Read loads a figures file.
func Read(path string) ([]Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read figures: %w", err)
	}
	var out []Result
	for i, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var r Result
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
