package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// LatencyProxy is an HTTP reverse proxy on 127.0.0.1 that holds every request
// for a fixed delay before forwarding it: loopback answers in about a
// millisecond, AWS in 10-50, and only added latency shows whether a client
// keeps enough requests in flight to hide it.
//
// It forwards each request unchanged, the Host header included: the client
// signs (SigV4) for the proxy's address, and the server checks the signature
// against the Host it receives, so rewriting Host would break every request.
type LatencyProxy struct {
	URL      string       // http://127.0.0.1:PORT, for --endpoint-url
	Requests atomic.Int64 // requests forwarded so far

	srv *http.Server
	ln  net.Listener
}

// StartLatencyProxy listens on a free port of 127.0.0.1 and forwards to target.
func StartLatencyProxy(target string, delay time.Duration) (*LatencyProxy, error) {
	t, err := url.Parse(target)
	if err != nil || t.Scheme == "" || t.Host == "" {
		return nil, fmt.Errorf("proxy target %q is not an http(s)://host:port URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listen on 127.0.0.1: %w", err)
	}
	p := &LatencyProxy{URL: "http://" + ln.Addr().String(), ln: ln}
	rp := &httputil.ReverseProxy{
		// Rewrite (not Director) drops any X-Forwarded-* headers and adds
		// none: some S3 servers use X-Forwarded-Host in place of Host when
		// they check signatures. Out.Host keeps the Host the client sent.
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = t.Scheme
			r.Out.URL.Host = t.Host
		},
		Transport: &http.Transport{
			Proxy:       nil, // never an HTTP_PROXY from the environment: loopback only
			DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			// The default keeps 2 idle connections per host: with hundreds in
			// flight it would open and close a connection per request and
			// measure that instead of the latency.
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
			// Bodies pass through as the server sent them.
			DisableCompression: true,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				http.Error(w, "latency proxy: "+err.Error(), http.StatusBadGateway)
			}
		},
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			timer := time.NewTimer(delay)
			select {
			case <-timer.C:
			case <-r.Context().Done():
				timer.Stop()
				return
			}
			p.Requests.Add(1)
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 30 * time.Second,
	}
	go p.srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Close
	return p, nil
}

// Close stops the proxy and drops its connections.
func (p *LatencyProxy) Close() error { return p.srv.Close() }
