package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyProxy is a TCP proxy on 127.0.0.1 that holds every request the
// client sends for a fixed delay before passing it on: loopback answers in about a
// millisecond, AWS in 10-50, and only added latency shows whether a client
// keeps enough requests in flight to hide it. Each request reaches the server
// the delay late, so each round trip takes the delay longer.
//
// It works below HTTP on purpose. The client signs (SigV4) for the proxy's
// address and the server checks the signature against the Host it receives,
// so requests must pass unchanged; and an HTTP reverse proxy parses and
// rebuilds every request, which on a small machine shared with the server
// costs as much CPU as the server's own work and would be measured in place
// of the latency. Responses are copied straight back (splice on Linux).
type LatencyProxy struct {
	URL string // http://127.0.0.1:PORT, for --endpoint-url
	// Requests counts reads from clients that start with an HTTP method:
	// enough to show that a run went through the proxy.
	Requests atomic.Int64

	kindsMu sync.Mutex
	kinds   map[string]int64 // requests by kind (requestKind)

	target string
	delay  time.Duration
	ln     net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// StartLatencyProxy listens on a free port of 127.0.0.1 and forwards to target.
func StartLatencyProxy(target string, delay time.Duration) (*LatencyProxy, error) {
	t, err := url.Parse(target)
	if err != nil || t.Scheme != "http" || t.Host == "" {
		return nil, fmt.Errorf("proxy target %q is not an http://host:port URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listen on 127.0.0.1: %w", err)
	}
	p := &LatencyProxy{URL: "http://" + ln.Addr().String(), target: t.Host, delay: delay, ln: ln, conns: map[net.Conn]struct{}{}}
	go p.serve()
	return p, nil
}

// Close stops the proxy and drops its connections.
func (p *LatencyProxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	return p.ln.Close()
}

func (p *LatencyProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

// track remembers c for Close; it reports false once the proxy is closed.
func (p *LatencyProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *LatencyProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *LatencyProxy) handle(client net.Conn) {
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)

	// Server to client: no delay, the round trip already paid it.
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		io.Copy(client, server) //nolint:errcheck // ends when either side closes
		client.Close()
	}()
	// Client to server: a read that starts a request is held for the delay,
	// then passed on; the rest of a request (a body) follows it at once.
	// HTTP/1.1 sends the next request on a connection only after the answer
	// to this one, so holding the reader holds nothing else.
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			if kind := requestKind(buf[:n]); kind != "" {
				p.Requests.Add(1)
				p.countKind(kind)
				if p.delay > 0 {
					time.Sleep(p.delay)
				}
			}
			if _, werr := server.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if tc, ok := server.(*net.TCPConn); ok {
		tc.CloseWrite() //nolint:errcheck // the server may be gone already
	}
	<-copied
}

var methods = [][]byte{[]byte("GET "), []byte("PUT "), []byte("POST "), []byte("HEAD "), []byte("DELETE ")}

// requestKind names the S3 request a read starts ("" when it starts none):
// its method, but LIST for a GET that lists (ListObjectsV2, or
// ListObjectVersions), since a listing is priced as a PUT, not as a GET.
func requestKind(b []byte) string {
	for _, m := range methods {
		if !bytes.HasPrefix(b, m) {
			continue
		}
		kind := string(m[:len(m)-1])
		if kind == "GET" {
			target, _, _ := bytes.Cut(b[len(m):], []byte(" "))
			if _, q, ok := bytes.Cut(target, []byte("?")); ok && (bytes.Contains(q, []byte("list-type=")) || hasParam(q, "versions")) {
				return "LIST"
			}
		}
		return kind
	}
	return ""
}

// hasParam reports whether the query q has the parameter name.
func hasParam(q []byte, name string) bool {
	for _, p := range bytes.Split(q, []byte("&")) {
		k, _, _ := bytes.Cut(p, []byte("="))
		if string(k) == name {
			return true
		}
	}
	return false
}

func (p *LatencyProxy) countKind(kind string) {
	p.kindsMu.Lock()
	if p.kinds == nil {
		p.kinds = map[string]int64{}
	}
	p.kinds[kind]++
	p.kindsMu.Unlock()
}

// Kinds returns the requests counted so far, by kind (requestKind).
func (p *LatencyProxy) Kinds() map[string]int64 {
	p.kindsMu.Lock()
	defer p.kindsMu.Unlock()
	return maps.Clone(p.kinds)
}
