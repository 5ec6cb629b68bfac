package testenv

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"testing"
)

// ShieldedDynamoDB starts, for the test, a proxy in front of the local
// dynalite that lets every request run to its end even when the client
// goes away, and returns its URL. dynalite 4.0.0 crashes (an uncaught
// ECONNRESET "aborted") when a client closes its connection while a request
// is being processed, which a cancelled context or a signalled process does;
// tests that interrupt DynamoDB work must send it through this, or they take
// the whole stack down with them.
func ShieldedDynamoDB(t testing.TB) string {
	t.Helper()
	Clients(t) // skips, or fails, without a stack
	target, err := url.Parse(os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	if err != nil || target.Host == "" {
		t.Fatalf("AWS_ENDPOINT_URL_DYNAMODB %q is not a URL", os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.Out.URL.Scheme, r.Out.URL.Host = target.Scheme, target.Host
	}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The whole body first: a client gone mid-body must not become a
		// request cut short upstream.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		// Cancellable, but only here: ReverseProxy cancels the upstream
		// request on the client's close when the context has no Done.
		ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
		defer cancel()
		r = r.WithContext(ctx)
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
