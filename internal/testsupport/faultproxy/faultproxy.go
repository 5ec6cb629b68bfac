// Package faultproxy is a fault-injecting HTTP reverse proxy for tests. It
// sits between a dynasnap command and a real local server (SeaweedFS for S3,
// dynalite for DynamoDB) and, at a chosen rate, answers a request with one of
// the failures AWS really produces: 503 SlowDown, 500 InternalError,
// DynamoDB throttling (ProvisionedThroughputExceededException) or a partial
// BatchWriteItem (UnprocessedItems), a reset connection, a slow answer, or a
// body cut short. It can also make chosen S3 keys look archived (GET answers
// 403 InvalidObjectState), which SeaweedFS cannot do by itself.
//
// Decisions are deterministic from the seed: whether request r is faulted,
// and how, is a hash of (seed, method, URI, DynamoDB target, body, how many
// times this identical request was seen before). The interleaving of
// concurrent requests therefore does not change which ones fail, and a retry
// of a faulted request gets a fresh, equally deterministic decision. The
// proxy counts what it injected and the retries it saw: SDK attempts after
// the first, and resends of a request it had faulted.
//
// It listens on 127.0.0.1 only and forwards only to the one target.
package faultproxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is one kind of injected fault.
type Kind string

// The faults. Each applies to S3, DynamoDB or both; a kind that does not
// apply to a request's service is replaced by one that does (see pick).
const (
	SlowDown    Kind = "503 SlowDown"                           // S3 only
	Internal    Kind = "500 InternalError"                      // both
	Throttle    Kind = "ProvisionedThroughputExceededException" // DynamoDB only
	Unprocessed Kind = "UnprocessedItems"                       // DynamoDB BatchWriteItem only
	Reset       Kind = "connection reset"                       // both; before the request reaches the server
	Slow        Kind = "slow response"                          // both; the request then succeeds
	Truncate    Kind = "truncated body"                         // both; after the server applied the request
)

// S3Kinds and DynamoDBKinds are every fault that applies to the service.
var (
	S3Kinds       = []Kind{SlowDown, Internal, Reset, Slow, Truncate}
	DynamoDBKinds = []Kind{Throttle, Unprocessed, Internal, Reset, Slow, Truncate}
	// Failing are the kinds that make a request fail (all but Slow): the mix
	// for a 100% fault rate, where every attempt must fail.
	Failing = []Kind{SlowDown, Internal, Throttle, Unprocessed, Reset, Truncate}
)

// Config chooses what the proxy injects.
type Config struct {
	Target string  // the real server, http://127.0.0.1:PORT
	Rate   float64 // probability that an eligible request is faulted, 0..1
	Seed   uint64
	Kinds  []Kind // the mix, chosen uniformly; default: every kind of the service
	// Eligible limits faults to some requests (nil: all).
	Eligible func(r *http.Request) bool
	// Archived reports S3 object keys (path without the bucket) whose GET
	// answers 403 InvalidObjectState, as for a version a lifecycle rule
	// moved to Glacier. Not counted as a random fault.
	Archived func(bucket, key string) bool
	// SlowDelay is how long a slow response is held (default 300ms).
	SlowDelay time.Duration
}

// Stats are what the proxy saw and did.
type Stats struct {
	Requests  int64            `json:"requests"`
	Forwarded int64            `json:"forwarded"`
	Repeats   int64            `json:"retries"` // SDK retries, and resends of a faulted request
	Injected  map[string]int64 `json:"injected"`
	Archived  int64            `json:"archivedAnswers"`
}

// Faults is the number of injected faults of every kind.
func (s Stats) Faults() int64 {
	var n int64
	for _, v := range s.Injected {
		n += v
	}
	return n
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	URL string // http://127.0.0.1:PORT

	cfg    Config
	target *url.URL
	rp     *httputil.ReverseProxy
	srv    *http.Server
	ln     net.Listener

	mu       sync.Mutex
	seen     map[[32]byte]seen
	injected map[Kind]int64
	rate     float64

	requests, forwarded, repeats, archived atomic.Int64
}

// Start listens on a free port of 127.0.0.1 and forwards to cfg.Target.
func Start(cfg Config) (*Proxy, error) {
	t, err := url.Parse(cfg.Target)
	if err != nil || t.Scheme == "" || t.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q is not an http://host:port URL", cfg.Target)
	}
	if cfg.SlowDelay <= 0 {
		cfg.SlowDelay = 300 * time.Millisecond
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen on 127.0.0.1: %w", err)
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), cfg: cfg, target: t, ln: ln,
		seen: map[[32]byte]seen{}, injected: map[Kind]int64{}, rate: cfg.Rate}
	p.rp = &httputil.ReverseProxy{
		// Rewrite (not Director) adds no X-Forwarded-* headers, and Out.Host
		// keeps the Host the client signed (SigV4 covers it).
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = t.Scheme
			r.Out.URL.Host = t.Host
		},
		Transport: &http.Transport{
			Proxy:               nil, // never an HTTP_PROXY from the environment: loopback only
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true, // bodies pass through byte for byte
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
			}
		},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 30 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Close stops the proxy and drops its connections.
func (p *Proxy) Close() error { return p.srv.Close() }

// SetRate changes the fault rate (for a test that turns faults off to check
// the result).
func (p *Proxy) SetRate(rate float64) {
	p.mu.Lock()
	p.rate = rate
	p.mu.Unlock()
}

// Stats returns a copy of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	inj := make(map[string]int64, len(p.injected))
	for k, v := range p.injected {
		inj[string(k)] = v
	}
	return Stats{Requests: p.requests.Load(), Forwarded: p.forwarded.Load(), Repeats: p.repeats.Load(),
		Injected: inj, Archived: p.archived.Load()}
}

func (p *Proxy) count(k Kind) {
	p.mu.Lock()
	p.injected[k]++
	p.mu.Unlock()
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return // the client went away
	}
	target := r.Header.Get("X-Amz-Target") // DynamoDB_20120810.<Operation>; empty for S3
	ddb := strings.HasPrefix(target, "DynamoDB_")

	if !ddb && p.cfg.Archived != nil && r.Method == http.MethodGet {
		if bucket, key, ok := s3Path(r.URL.Path); ok && key != "" && p.cfg.Archived(bucket, key) {
			p.archived.Add(1)
			s3Error(w, http.StatusForbidden, "InvalidObjectState", "The operation is not valid for the object's storage class")
			return
		}
	}

	id, u1, u2, u3 := p.decide(r, target, body)
	p.mu.Lock()
	rate := p.rate
	p.mu.Unlock()
	kind := Kind("")
	if u1 < rate && (p.cfg.Eligible == nil || p.cfg.Eligible(r)) {
		kind = p.pick(ddb, target, u2)
	}
	if kind != "" {
		p.count(kind)
		if kind != Slow {
			p.mu.Lock()
			s := p.seen[id]
			s.faulted = true
			p.seen[id] = s
			p.mu.Unlock()
		}
	}
	switch kind {
	case SlowDown:
		s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate. (injected by faultproxy)")
		return
	case Internal:
		if ddb {
			ddbError(w, http.StatusInternalServerError, "com.amazonaws.dynamodb.v20120810#InternalServerError", "injected by faultproxy")
		} else {
			s3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again. (injected by faultproxy)")
		}
		return
	case Throttle:
		ddbError(w, http.StatusBadRequest, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
			"The level of configured provisioned throughput for the table was exceeded. (injected by faultproxy)")
		return
	case Reset:
		resetConn(w)
		return
	case Slow:
		t := time.NewTimer(p.cfg.SlowDelay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	case Unprocessed:
		p.unprocessed(w, r, body, u3)
		return
	}
	if kind == Truncate {
		p.truncate(w, r, body)
		return
	}
	p.forward(w, r, body)
}

// decide hashes the request's identity and how often it was seen into three
// uniform numbers in [0,1): fault or not, which kind, how (e.g. how much of
// a batch is processed).
func (p *Proxy) decide(r *http.Request, target string, body []byte) ([32]byte, float64, float64, float64) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", r.Method, r.URL.RequestURI(), target)
	h.Write(body)
	var id [32]byte
	h.Sum(id[:0])
	p.mu.Lock()
	prev := p.seen[id]
	p.seen[id] = seen{n: prev.n + 1}
	p.mu.Unlock()
	n := prev.n
	// A retry is the SDK's own next attempt, or the same request sent again
	// by the tool after this proxy faulted it (restore and the snapshot's
	// body re-reads retry outside the SDK). A request merely repeated (a
	// HEAD per key per batch) is not one.
	if prev.faulted || sdkAttempt(r) > 1 {
		p.repeats.Add(1)
	}
	var seedAndN [16]byte
	binary.LittleEndian.PutUint64(seedAndN[:8], p.cfg.Seed)
	binary.LittleEndian.PutUint64(seedAndN[8:], uint64(n))
	d := sha256.Sum256(append(id[:], seedAndN[:]...))
	f := func(b []byte) float64 { return float64(binary.LittleEndian.Uint64(b)>>11) / (1 << 53) }
	return id, f(d[0:8]), f(d[8:16]), f(d[16:24])
}

// seen is what the proxy remembers of one request identity.
type seen struct {
	n       int  // times received
	faulted bool // the last one was answered with a fault
}

// sdkAttempt reads the SDK's attempt number ("amz-sdk-request: attempt=2; max=10").
func sdkAttempt(r *http.Request) int {
	v := r.Header.Get("Amz-Sdk-Request")
	a, _, _ := strings.Cut(strings.TrimPrefix(v, "attempt="), ";")
	n, _ := strconv.Atoi(a)
	return n
}

// pick chooses a kind from the configured mix that applies to the request.
func (p *Proxy) pick(ddb bool, target string, u float64) Kind {
	mix := p.cfg.Kinds
	if len(mix) == 0 {
		mix = S3Kinds
		if ddb {
			mix = DynamoDBKinds
		}
	}
	var ok []Kind
	for _, k := range mix {
		switch k {
		case SlowDown:
			if ddb {
				continue
			}
		case Throttle:
			if !ddb {
				continue
			}
		case Unprocessed:
			if !strings.HasSuffix(target, ".BatchWriteItem") {
				continue
			}
		}
		ok = append(ok, k)
	}
	if len(ok) == 0 {
		// Nothing in the mix fits this request (e.g. only UnprocessedItems and
		// a Scan): throttle DynamoDB, slow S3 down, the services' own answer
		// to load.
		if ddb {
			return Throttle
		}
		return SlowDown
	}
	return ok[int(u*float64(len(ok)))%len(ok)]
}

func (p *Proxy) outbound(r *http.Request, body []byte) *http.Request {
	out := r.Clone(r.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	return out
}

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	p.forwarded.Add(1)
	p.rp.ServeHTTP(w, p.outbound(r, body))
}

// roundTrip sends the request to the target and reads the whole answer.
func (p *Proxy) roundTrip(r *http.Request, body []byte) (*http.Response, []byte, error) {
	p.forwarded.Add(1)
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target.String()+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host
	out.ContentLength = int64(len(body))
	resp, err := p.rp.Transport.RoundTrip(out)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// truncate lets the server apply the request, then sends the answer's
// headers (with the full Content-Length) and only half of its body, and
// drops the connection: the client sees an unexpected EOF, as when a network
// path fails mid-response. An answer without a body loses the whole response.
func (p *Proxy) truncate(w http.ResponseWriter, r *http.Request, body []byte) {
	resp, b, err := p.roundTrip(r, body)
	if err != nil {
		http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	if len(b) < 2 || r.Method == http.MethodHead {
		resetConn(w)
		return
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(resp.StatusCode)
	w.Write(b[:len(b)/2])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	// Aborts the response: net/http closes the connection without finishing it.
	panic(http.ErrAbortHandler)
}

// unprocessed forwards only the first part of a BatchWriteItem and returns
// the rest as UnprocessedItems, as DynamoDB does under load; at least one
// request is always withheld.
func (p *Proxy) unprocessed(w http.ResponseWriter, r *http.Request, body []byte, u float64) {
	var in map[string]json.RawMessage
	var reqs map[string][]json.RawMessage
	if json.Unmarshal(body, &in) != nil || json.Unmarshal(in["RequestItems"], &reqs) != nil {
		ddbError(w, http.StatusBadRequest, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "injected by faultproxy")
		return
	}
	withheld := map[string][]json.RawMessage{}
	tables := make([]string, 0, len(reqs))
	for t := range reqs {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, t := range tables {
		n := len(reqs[t])
		keep := int(u * float64(n)) // 0..n-1
		withheld[t] = reqs[t][keep:]
		reqs[t] = reqs[t][:keep]
		if keep == 0 {
			delete(reqs, t)
		}
	}
	out := map[string]any{"UnprocessedItems": withheld}
	if len(reqs) > 0 {
		in["RequestItems"], _ = json.Marshal(reqs)
		nb, _ := json.Marshal(in)
		resp, b, err := p.roundTrip(r, nb)
		if err != nil {
			http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
			return
		}
		if resp.StatusCode != http.StatusOK {
			WriteDynamoDBJSON(w, resp.StatusCode, b)
			return
		}
		var o map[string]json.RawMessage
		if json.Unmarshal(b, &o) == nil {
			var un map[string][]json.RawMessage
			json.Unmarshal(o["UnprocessedItems"], &un)
			for t, rs := range un {
				withheld[t] = append(withheld[t], rs...)
			}
			for k, v := range o {
				if k != "UnprocessedItems" {
					out[k] = v
				}
			}
		}
	}
	b, _ := json.Marshal(out)
	WriteDynamoDBJSON(w, http.StatusOK, b)
}

// resetConn closes the client's connection with a TCP RST (SO_LINGER 0).
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// s3Path splits a path-style S3 URL path into bucket and key.
func s3Path(p string) (bucket, key string, ok bool) {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "", "", false
	}
	bucket, key, _ = strings.Cut(p, "/")
	if k, err := url.PathUnescape(key); err == nil {
		key = k
	}
	return bucket, key, true
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>faultproxy</RequestId></Error>`, code, msg)
}

func ddbError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]string{"__type": typ, "message": msg})
	WriteDynamoDBJSON(w, status, b)
}

// WriteDynamoDBJSON answers as DynamoDB does, with the CRC32 the SDK checks;
// for other test proxies that rewrite DynamoDB answers too.
func WriteDynamoDBJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
