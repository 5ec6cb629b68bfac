// Package fastget reads object versions for the snapshot's hot path, where
// one run makes a GetObject call per item: millions of small GETs. Through
// the SDK each one passes some forty middleware steps and net/http's two
// connection goroutines, which costs about as much CPU as the server spends
// answering it. A Getter sends the same signed request on its own
// keep-alive connections and reads the answer in place.
//
// It serves only the plain case, a 200 answer with a Content-Length. Any
// other answer, a dropped connection, or an endpoint it does not know how to
// address returns an error wrapping ErrFallback, and the caller makes the
// same request through the SDK, which retries, maps S3 errors and follows
// the addressing rules this package does not implement (FIPS, dual-stack,
// access points, S3 Express, other partitions, proxies).
package fastget

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ErrFallback marks a request this package did not serve.
var ErrFallback = errors.New("not served by the lean GET path")

// Getter is safe for concurrent use.
type Getter struct {
	scheme    string // http or https
	endpoint  string // host[:port] of a custom endpoint; "" for AWS
	pathStyle bool
	suffix    string // virtual-hosted AWS: ".s3.REGION.amazonaws.com"
	creds     aws.CredentialsProvider
	sign      *signer
	tls       *tls.Config
	timeout   time.Duration

	mu   sync.Mutex
	idle map[string][]*conn // by Host

	served, fellBack atomic.Int64
	off              atomic.Bool // see giveUpAfter
}

// giveUpAfter is how many requests may fall back before the first success
// until the Getter turns itself off: a server or gateway that refuses the
// lean requests (a signing quirk, a header it rejects) would otherwise cost
// two requests per object for the whole run.
const giveUpAfter = 16

// Options describe where requests go.
type Options struct {
	// EndpointURL is a custom S3 endpoint (path-style addressing); empty
	// for AWS itself (virtual-hosted addressing in Region).
	EndpointURL string
	Region      string
	Credentials aws.CredentialsProvider
	// ExpectedBucketOwner is sent (and signed) as
	// x-amz-expected-bucket-owner on every request; "" for none.
	ExpectedBucketOwner string
	// Timeout bounds one request; default 60s.
	Timeout time.Duration
}

// New returns a Getter, or nil when the lean path should not be used at
// all here: a proxy applies to the endpoint, the region is outside the aws
// partition, or DYNASNAP_LEAN_GET=0 turns it off. (FIPS, dual-stack and
// accelerate settings, from flags, environment or profile, are in the
// client's resolved options, which ForClient checks.) AWS_CA_BUNDLE is honoured as the SDK
// honours it.
func New(o Options) *Getter {
	if os.Getenv("DYNASNAP_LEAN_GET") == "0" || o.Credentials == nil || o.Region == "" {
		return nil
	}
	g := &Getter{creds: o.Credentials, sign: &signer{region: o.Region, owner: o.ExpectedBucketOwner}, timeout: o.Timeout, idle: map[string][]*conn{}}
	if g.timeout <= 0 {
		g.timeout = 60 * time.Second
	}
	if o.EndpointURL != "" {
		u, err := url.Parse(o.EndpointURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil
		}
		g.scheme, g.endpoint, g.pathStyle = u.Scheme, u.Host, true
	} else {
		if !commercialRegion(o.Region) {
			return nil
		}
		g.scheme, g.suffix = "https", ".s3."+o.Region+".amazonaws.com"
	}
	probe := &url.URL{Scheme: g.scheme, Host: g.endpoint}
	if g.endpoint == "" {
		probe.Host = "s3." + o.Region + ".amazonaws.com"
	}
	if p, err := http.ProxyFromEnvironment(&http.Request{URL: probe}); p != nil || err != nil {
		return nil // the SDK's client goes through the proxy; so must every request
	}
	if g.scheme == "https" {
		g.tls = &tls.Config{MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
		if path := os.Getenv("AWS_CA_BUNDLE"); path != "" {
			pem, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			g.tls.RootCAs = x509.NewCertPool()
			if !g.tls.RootCAs.AppendCertsFromPEM(pem) {
				return nil
			}
		}
	}
	return g
}

// ForClient returns a Getter that sends requests where client would, or
// nil when the client's settings ask for addressing this package does not
// implement (accelerate, FIPS, dual-stack, virtual-hosted custom endpoints).
// owner is the expected bucket owner client sends ("" for none), which the
// lean requests must sign too: the client's middleware cannot be read back.
func ForClient(client *s3.Client, owner string) *Getter {
	o := client.Options()
	if o.UseAccelerate || o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled ||
		o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled {
		return nil
	}
	opts := Options{Region: o.Region, Credentials: o.Credentials, ExpectedBucketOwner: owner}
	switch {
	case o.BaseEndpoint != nil && o.UsePathStyle:
		opts.EndpointURL = *o.BaseEndpoint
	case o.BaseEndpoint != nil || o.UsePathStyle:
		return nil
	}
	return New(opts)
}

// commercialRegion is a region of the aws partition, whose S3 endpoints
// are s3.REGION.amazonaws.com.
func commercialRegion(r string) bool {
	for _, p := range []string{"cn-", "us-gov-", "us-iso", "eu-isoe-"} {
		if strings.HasPrefix(r, p) {
			return false
		}
	}
	return r != "aws-global" && !strings.ContainsAny(r, "./:")
}

// Stats reports how many requests were served and how many fell back.
func (g *Getter) Stats() (served, fellBack int64) { return g.served.Load(), g.fellBack.Load() }

// Get reads version versionID of bucket/key ("": the current version)
// into buf, replacing what buf held. The error wraps ErrFallback when the request was not served and
// should be made through the SDK; it is ctx's error when ctx ended.
func (g *Getter) Get(ctx context.Context, bucket, key, versionID string, buf *bytes.Buffer) error {
	if g.off.Load() {
		return fmt.Errorf("%w: turned off after %d requests fell back and none was served", ErrFallback, giveUpAfter)
	}
	err := g.get(ctx, bucket, key, versionID, buf)
	switch {
	case err == nil:
		g.served.Add(1)
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		if g.fellBack.Add(1) >= giveUpAfter && g.served.Load() == 0 {
			g.off.Store(true)
		}
		if !errors.Is(err, ErrFallback) {
			err = fmt.Errorf("%w: %w", ErrFallback, err)
		}
	}
	return err
}

func (g *Getter) get(ctx context.Context, bucket, key, versionID string, buf *bytes.Buffer) error {
	var host, path string
	switch {
	case strings.HasPrefix(bucket, "arn:") || strings.HasSuffix(bucket, "--x-s3") || bucket == "":
		return fmt.Errorf("%w: bucket %q needs the SDK's addressing", ErrFallback, bucket)
	case g.pathStyle:
		host, path = g.endpoint, "/"+escape(bucket, false)+"/"+escape(key, true)
	case strings.Contains(bucket, "."):
		// A dotted bucket name does not match the *.s3 certificate.
		return fmt.Errorf("%w: bucket %q has dots", ErrFallback, bucket)
	default:
		host, path = bucket+g.suffix, "/"+escape(key, true)
	}
	creds, err := g.creds.Retrieve(ctx)
	if err != nil || !creds.HasKeys() {
		return fmt.Errorf("%w: no signing credentials", ErrFallback)
	}
	query := "" // the current version
	if versionID != "" {
		query = "versionId=" + escape(versionID, false)
	}
	auth, date := g.sign.authorization(creds, host, path, query, time.Now())
	for attempt := 0; ; attempt++ {
		c, reused, err := g.conn(ctx, host)
		if err != nil {
			return err
		}
		status, err := c.roundTrip(ctx, g.timeout, host, path, query, date, g.sign.owner, auth, creds.SessionToken, buf)
		if err == nil && c.reusable {
			g.release(host, c)
		} else {
			c.nc.Close()
		}
		switch {
		case err == nil && status == 200:
			return nil
		case err == nil:
			return fmt.Errorf("%w: HTTP %d", ErrFallback, status)
		case reused && attempt == 0 && ctx.Err() == nil:
			// The server may have closed an idle keep-alive connection just
			// as it was reused; one new connection settles that.
			continue
		default:
			return err
		}
	}
}

func (g *Getter) conn(ctx context.Context, host string) (*conn, bool, error) {
	g.mu.Lock()
	if cs := g.idle[host]; len(cs) > 0 {
		c := cs[len(cs)-1]
		g.idle[host] = cs[:len(cs)-1]
		g.mu.Unlock()
		return c, true, nil
	}
	g.mu.Unlock()
	addr := host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		if g.scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, fmt.Errorf("dial %s: %w", addr, err)
	}
	if g.tls != nil {
		cfg := g.tls.Clone()
		cfg.ServerName, _, _ = strings.Cut(host, ":")
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, false, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, 8<<10)}, false, nil
}

// maxIdle bounds the idle connections kept per host.
const maxIdle = 1024

func (g *Getter) release(host string, c *conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.idle[host]) >= maxIdle {
		c.nc.Close()
		return
	}
	g.idle[host] = append(g.idle[host], c)
}

// Close drops the idle connections.
func (g *Getter) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for h, cs := range g.idle {
		for _, c := range cs {
			c.nc.Close()
		}
		delete(g.idle, h)
	}
}

type conn struct {
	nc       net.Conn
	r        *bufio.Reader
	w        []byte
	reusable bool
}

// maxBody bounds a body read in place; DynamoDB items are at most 400 KB,
// so anything far larger is left to the SDK path and its checks.
const maxBody = 4 << 20

// roundTrip sends one GET and reads the answer. For a 200 the body is in
// buf; for another status the body is skipped. c.reusable says whether the
// connection can carry another request.
func (c *conn) roundTrip(ctx context.Context, timeout time.Duration, host, path, query, date, owner, auth, token string, buf *bytes.Buffer) (int, error) {
	c.reusable = false
	w := c.w[:0]
	w = append(w, "GET "...)
	w = append(w, path...)
	if query != "" {
		w = append(w, '?')
		w = append(w, query...)
	}
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, host...)
	w = append(w, "\r\nUser-Agent: dynasnap\r\nX-Amz-Checksum-Mode: ENABLED\r\nX-Amz-Content-Sha256: "+emptyHash+"\r\nX-Amz-Date: "...)
	w = append(w, date...)
	if owner != "" {
		w = append(w, "\r\nX-Amz-Expected-Bucket-Owner: "...)
		w = append(w, owner...)
	}
	if token != "" {
		w = append(w, "\r\nX-Amz-Security-Token: "...)
		w = append(w, token...)
	}
	w = append(w, "\r\nAuthorization: "...)
	w = append(w, auth...)
	w = append(w, "\r\n\r\n"...)
	c.w = w

	if err := c.nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return 0, err
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.nc.Write(w); err != nil {
		return 0, fmt.Errorf("send GET: %w", err)
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, fmt.Errorf("read status: %w", err)
	}
	status, ok := parseStatus(line)
	if !ok {
		return 0, fmt.Errorf("%w: status line %q", ErrFallback, bytes.TrimSpace(line))
	}
	length, keepAlive := int64(-1), true
	var sum checksum
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, fmt.Errorf("read headers: %w", err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("%w: header line %q", ErrFallback, bytes.TrimSpace(line))
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "content-length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (length >= 0 && n != length) {
				return 0, fmt.Errorf("%w: Content-Length %q", ErrFallback, value)
			}
			length = n
		case asciiEqualFold(name, "transfer-encoding"):
			return 0, fmt.Errorf("%w: Transfer-Encoding %q", ErrFallback, value)
		case len(name) > len("x-amz-checksum-") && asciiEqualFold(name[:len("x-amz-checksum-")], "x-amz-checksum-"):
			if err := sum.set(name[len("x-amz-checksum-"):], value); err != nil {
				return 0, err
			}
		case asciiEqualFold(name, "connection"):
			if asciiEqualFold(value, "close") {
				keepAlive = false
			}
		}
	}
	if status == 100 {
		return 0, fmt.Errorf("%w: 100 Continue", ErrFallback)
	}
	if length < 0 || length > maxBody {
		return 0, fmt.Errorf("%w: body of %d bytes", ErrFallback, length)
	}
	if status != 200 {
		if _, err := c.r.Discard(int(length)); err != nil {
			return 0, fmt.Errorf("skip error body: %w", err)
		}
		c.reusable = keepAlive
		return status, nil
	}
	buf.Reset()
	buf.Grow(int(length))
	if _, err := io.CopyN(buf, c.r, length); err != nil {
		return 0, fmt.Errorf("read body (%d of %d bytes): %w", buf.Len(), length, err)
	}
	if err := sum.check(buf.Bytes()); err != nil {
		return 0, err
	}
	c.reusable = keepAlive
	return 200, nil
}

// parseStatus reads "HTTP/1.1 200 OK".
func parseStatus(line []byte) (int, bool) {
	if !bytes.HasPrefix(line, []byte("HTTP/1.")) || len(line) < 12 || line[8] != ' ' {
		return 0, false
	}
	n, err := strconv.Atoi(string(line[9:12]))
	return n, err == nil
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
