// Package regionproxy is a test reverse proxy in front of a local S3 server
// (SeaweedFS) that makes some buckets live in another region and belong to
// one account, as S3 does:
//
//   - a request for such a bucket signed for another region (the SigV4
//     credential scope, Credential=AKID/DATE/REGION/s3/aws4_request) gets
//     301 PermanentRedirect with x-amz-bucket-region, and an XML body but
//     for HEAD; only requests signed for the bucket's region go through;
//   - HeadBucket answers carry x-amz-bucket-region;
//   - a request whose x-amz-expected-bucket-owner is not the owner gets
//     403 AccessDenied.
//
// Everything else is forwarded unchanged: SeaweedFS verifies signatures
// with whatever region the scope names, so no re-signing is needed. The
// proxy counts HeadBucket calls per bucket and the writes it forwarded.
package regionproxy

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Config says which bucket is in which region and who owns them.
type Config struct {
	Target string // the real server, http://127.0.0.1:PORT
	// Regions maps bucket to its region. A bucket not listed accepts any
	// region and its HeadBucket names none (like a local server).
	Regions map[string]string
	// Owner is the account that owns every bucket; "" checks nothing.
	Owner string
}

// Proxy is a running proxy.
type Proxy struct {
	URL string
	cfg Config

	mu         sync.Mutex
	heads      map[string]int // HeadBucket calls per bucket
	redirects  map[string]int // 301s per bucket
	denied     map[string]int // 403s for the owner per bucket
	writes     int            // PUT, POST and DELETE forwarded
	forwarded  int
	ownerHeads int // forwarded requests that carried the owner header
}

// New starts a proxy on 127.0.0.1, stopped when the test ends.
func New(t testing.TB, cfg Config) *Proxy {
	t.Helper()
	target, err := url.Parse(cfg.Target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{cfg: cfg, heads: map[string]int{}, redirects: map[string]int{}, denied: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		if b, ok := headBucket(r); ok {
			if region := cfg.Regions[b]; region != "" {
				resp.Header.Set("X-Amz-Bucket-Region", region)
			}
		}
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, rp) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	p.URL = "http://" + l.Addr().String()
	return p
}

// bucketOf is the bucket of a path-style request ("" for ListBuckets).
func bucketOf(r *http.Request) string {
	b, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return b
}

func headBucket(r *http.Request) (string, bool) {
	if r.Method != http.MethodHead {
		return "", false
	}
	rest := strings.TrimPrefix(r.URL.Path, "/")
	b, key, _ := strings.Cut(rest, "/")
	return b, b != "" && key == ""
}

// SignedRegion reads the region of the SigV4 credential scope, from the
// Authorization header or a presigned URL's X-Amz-Credential.
func SignedRegion(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, after, ok := strings.Cut(auth, "Credential=")
		if !ok {
			return ""
		}
		cred, _, _ = strings.Cut(after, ",")
	}
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[2]
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, rp *httputil.ReverseProxy) {
	bucket := bucketOf(r)
	hb, isHead := headBucket(r)
	p.mu.Lock()
	if isHead {
		p.heads[hb]++
	}
	p.mu.Unlock()
	if want := p.cfg.Regions[bucket]; want != "" {
		if got := SignedRegion(r); got != want {
			p.mu.Lock()
			p.redirects[bucket]++
			p.mu.Unlock()
			w.Header().Set("X-Amz-Bucket-Region", want)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusMovedPermanently)
			if r.Method != http.MethodHead {
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
					`<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.</Message><Endpoint>%s.s3.%s.amazonaws.com</Endpoint><Bucket>%s</Bucket><RequestId>regionproxy</RequestId></Error>`,
					bucket, want, bucket)
			}
			return
		}
	}
	owner := r.Header.Get("X-Amz-Expected-Bucket-Owner")
	if bucket != "" && p.cfg.Owner != "" && owner != "" && owner != p.cfg.Owner {
		p.mu.Lock()
		p.denied[bucket]++
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		if r.Method != http.MethodHead {
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
				`<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>regionproxy</RequestId></Error>`)
		}
		return
	}
	p.mu.Lock()
	p.forwarded++
	if owner != "" {
		p.ownerHeads++
	}
	switch r.Method {
	case http.MethodPut, http.MethodPost, http.MethodDelete:
		p.writes++
	}
	p.mu.Unlock()
	rp.ServeHTTP(w, r)
}

// Stats are the proxy's counts.
type Stats struct {
	HeadBucket map[string]int // HeadBucket calls per bucket
	Redirects  map[string]int // 301s per bucket
	Denied     map[string]int // owner 403s per bucket
	Forwarded  int
	WithOwner  int // forwarded requests that carried x-amz-expected-bucket-owner
	Writes     int // PUT, POST and DELETE forwarded
}

// Stats returns a copy of the counts.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return Stats{HeadBucket: cp(p.heads), Redirects: cp(p.redirects), Denied: cp(p.denied),
		Forwarded: p.forwarded, WithOwner: p.ownerHeads, Writes: p.writes}
}

// Reset zeroes the counts (between commands of one test).
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.heads, p.redirects, p.denied = map[string]int{}, map[string]int{}, map[string]int{}
	p.forwarded, p.ownerHeads, p.writes = 0, 0, 0
}
