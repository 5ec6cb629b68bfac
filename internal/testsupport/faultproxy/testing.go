package faultproxy

import "testing"

// New starts a proxy for a test and closes it when the test ends.
func New(t testing.TB, cfg Config) *Proxy {
	t.Helper()
	p, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
