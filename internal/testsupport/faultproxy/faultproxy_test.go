package faultproxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The same seed faults the same requests whatever order they arrive in; a
// different seed faults others; the rate is about what was asked.
func TestDeterministicFromSeed(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 100))
	}))
	defer backend.Close()
	faulted := func(seed uint64, reverse bool) map[int]bool {
		p := New(t, Config{Target: backend.URL, Rate: 0.2, Seed: seed, Kinds: []Kind{Internal}})
		out := map[int]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for j := range 200 {
			i := j
			if reverse {
				i = 199 - j
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Get(fmt.Sprintf("%s/bucket/key-%d", p.URL, i))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				out[i] = resp.StatusCode == 500
				mu.Unlock()
			}()
		}
		wg.Wait()
		if st := p.Stats(); st.Requests != 200 || st.Faults() != int64(count(out)) {
			t.Errorf("stats %+v, %d faulted", st, count(out))
		}
		return out
	}
	a, b, c := faulted(1, false), faulted(1, true), faulted(2, false)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("the same seed faulted different requests")
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatal("different seeds faulted the same requests")
	}
	if n := count(a); n < 20 || n > 60 {
		t.Fatalf("%d of 200 faulted at rate 0.2", n)
	}
}

// Every kind produces what a client sees from the real failure.
func TestKinds(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 100))
	}))
	defer backend.Close()
	for _, tc := range []struct {
		kind   Kind
		status int
		errSub string
	}{
		{SlowDown, 503, ""}, {Internal, 500, ""}, {Slow, 200, ""},
		{Reset, 0, "EOF"}, {Truncate, 200, "unexpected EOF"},
	} {
		p := New(t, Config{Target: backend.URL, Rate: 1, Kinds: []Kind{tc.kind}, SlowDelay: 10})
		resp, err := http.Get(p.URL + "/b/k")
		if err != nil {
			if tc.errSub == "" || !strings.Contains(err.Error(), tc.errSub) && !strings.Contains(err.Error(), "reset") {
				t.Errorf("%s: %v", tc.kind, err)
			}
			continue
		}
		_, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.errSub != "") != (rerr != nil) {
			t.Errorf("%s: status %d, read error %v", tc.kind, resp.StatusCode, rerr)
		}
	}
	p := New(t, Config{Target: backend.URL, Archived: func(b, k string) bool { return k == "cold/key" }})
	resp, err := http.Get(p.URL + "/b/cold/key")
	if err != nil || resp.StatusCode != 403 {
		t.Fatalf("archived: %v %v", err, resp)
	}
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "InvalidObjectState") {
		t.Fatalf("archived: %s", b)
	}
}

func count(m map[int]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}
