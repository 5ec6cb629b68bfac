package backuptest

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// Proxy sits in front of a real S3 endpoint and fails the requests Fail
// picks with 403 AccessDenied, which the SDK does not retry, so a test sees
// the failure at once. It records the requests it passes on, for tests
// that count them.
type Proxy struct {
	URL string

	mu   sync.Mutex
	fail func(r *http.Request) bool
	seen []string // every request passed on, "METHOD path?query [range]"
}

// NewProxy starts a proxy to target, closed when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{}
	// The Director keeps the Host header the client signed (the proxy's), so
	// SigV4 signatures still verify at the server.
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		f := p.fail
		p.mu.Unlock()
		if f != nil && f(r) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>injected by the test proxy</Message></Error>`))
			return
		}
		p.mu.Lock()
		line := r.Method + " " + r.URL.RequestURI()
		if rg := r.Header.Get("Range"); rg != "" {
			line += " [" + rg + "]"
		}
		p.seen = append(p.seen, line)
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Fail sets which requests fail (nil: none).
func (p *Proxy) Fail(f func(r *http.Request) bool) {
	p.mu.Lock()
	p.fail = f
	p.mu.Unlock()
}

// Requests returns the requests passed on since the last Reset, in order.
func (p *Proxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// Reset forgets the requests counted so far.
func (p *Proxy) Reset() {
	p.mu.Lock()
	p.seen = nil
	p.mu.Unlock()
}
