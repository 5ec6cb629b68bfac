package fastget

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/testsupport/regionproxy"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// The hand-made signature must be the SDK signer's, byte for byte, for the
// keys and version ids S3 can hold.
func TestSignatureMatchesSDK(t *testing.T) {
	now := time.Date(2026, 11, 27, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct{ host, bucket, key, version, token string }{
		{"127.0.0.1:18333", "b", "dynasnap/orders/0a1b", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo", ""},
		{"my-bucket.s3.eu-west-1.amazonaws.com", "", "p r/ü/€ (1)+=&?#%2F~._-", "null", "session/token+="},
		{"s3.local", "bkt", "a//b/../c", "v=1&x", ""},
		{"s3.local", "bkt", "journal/0/seg.jsonl.gz", "", ""}, // the current version: no query
	} {
		creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: tc.token}
		path := "/" + escape(tc.key, true)
		if tc.bucket != "" {
			path = "/" + escape(tc.bucket, false) + path
		}
		query, url := "", "http://"+tc.host+path
		if tc.version != "" {
			query = "versionId=" + escape(tc.version, false)
			url += "?" + query
		}
		s := &signer{region: "eu-west-1"}
		got, date := s.authorization(creds, tc.host, path, query, now)

		req, _ := http.NewRequest("GET", url, nil)
		req.URL.RawPath = path
		req.Header.Set("X-Amz-Checksum-Mode", "ENABLED")
		req.Header.Set("X-Amz-Content-Sha256", emptyHash)
		err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
			SignHTTP(context.Background(), creds, req, emptyHash, "s3", "eu-west-1", now)
		if err != nil {
			t.Fatal(err)
		}
		if want := req.Header.Get("Authorization"); got != want {
			t.Errorf("key %q:\n got %s\nwant %s", tc.key, got, want)
		}
		if date != req.Header.Get("X-Amz-Date") {
			t.Errorf("X-Amz-Date %s, SDK %s", date, req.Header.Get("X-Amz-Date"))
		}
	}
}

// Against SeaweedFS: every version of keys with odd characters reads back
// as the SDK reads it, without falling back; a missing version falls back.
func TestGetAgainstSeaweedFS(t *testing.T) {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, true)
	cl := c.S3()
	g := ForClient(cl, "")
	if g == nil {
		t.Fatal("no lean getter for the local stack's client")
	}
	defer g.Close()
	ctx := context.Background()
	keys := []string{"t/plain", "t/spaces and + plus", "t/ünï©ødé/€", "t/odd!'()*&$,;=@:", "t/percent%2F%", "t/deep/a/b/c.json"}
	type ver struct{ key, id, body string }
	var vers []ver
	for _, k := range keys {
		for i := range 2 {
			body := fmt.Sprintf(`{"k":{"S":%q},"v":{"N":"%d"}}`, k, i)
			out, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(body)})
			if err != nil {
				t.Fatal(err)
			}
			vers = append(vers, ver{k, aws.ToString(out.VersionId), body})
		}
	}
	var buf bytes.Buffer
	for _, v := range vers {
		if err := g.Get(ctx, bucket, v.key, v.id, &buf); err != nil {
			t.Fatalf("get %q %s: %v", v.key, v.id, err)
		}
		if buf.String() != v.body {
			t.Errorf("get %q %s = %q; want %q", v.key, v.id, buf.String(), v.body)
		}
	}
	if served, fell := g.Stats(); served != int64(len(vers)) || fell != 0 {
		t.Errorf("served %d, fell back %d; want %d, 0", served, fell, len(vers))
	}
	// No version id: the current version.
	for i, k := range keys {
		if err := g.Get(ctx, bucket, k, "", &buf); err != nil || buf.String() != vers[2*i+1].body {
			t.Errorf("get %q current: %v %q; want %q", k, err, buf.String(), vers[2*i+1].body)
		}
	}
	if served, _ := g.Stats(); served != int64(len(vers)+len(keys)) {
		t.Errorf("served %d; want %d", served, len(vers)+len(keys))
	}
	err := g.Get(ctx, bucket, keys[0], "no-such-version", &buf)
	if !errors.Is(err, ErrFallback) {
		t.Errorf("missing version: err = %v; want ErrFallback", err)
	}
	// The connection that carried the error answer is still good.
	if err := g.Get(ctx, bucket, vers[0].key, vers[0].id, &buf); err != nil || buf.String() != vers[0].body {
		t.Errorf("after an error answer: %v %q", err, buf.String())
	}
}

// Answers the lean path does not handle fall back; a stale keep-alive
// connection is replaced; a cancelled context is the context's error.
func TestFallbacks(t *testing.T) {
	var mode atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch m := mode.Load().(string); m {
		case "ok":
			io.WriteString(w, `{"a":{"S":"b"}}`)
		case "chunked":
			w.(http.Flusher).Flush()
			io.WriteString(w, "x")
		case "short":
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "only a few bytes")
			hj, _, _ := w.(http.Hijacker).Hijack()
			hj.Close()
		case "crc":
			w.Header().Set("X-Amz-Checksum-Crc32", "AAAAAA==")
			io.WriteString(w, "body")
		case "slow":
			time.Sleep(2 * time.Second)
		default:
			http.Error(w, "SlowDown", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	g := New(Options{EndpointURL: srv.URL, Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	if g == nil {
		t.Fatal("no getter")
	}
	defer g.Close()
	ctx := context.Background()
	var buf bytes.Buffer
	get := func(m string) error {
		mode.Store(m)
		return g.Get(ctx, "bkt", "k", "v1", &buf)
	}
	if err := get("ok"); err != nil || buf.String() != `{"a":{"S":"b"}}` {
		t.Fatalf("ok: %v %q", err, buf.String())
	}
	for _, m := range []string{"503", "chunked", "short", "crc"} {
		if err := get(m); !errors.Is(err, ErrFallback) {
			t.Errorf("%s: err = %v; want ErrFallback", m, err)
		}
	}
	// Close every connection the server holds: the next request goes out on
	// a stale idle connection first, and must still be served.
	srv.CloseClientConnections()
	if err := get("ok"); err != nil {
		t.Errorf("after the server dropped idle connections: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	mode.Store("slow")
	if err := g.Get(cctx, "bkt", "k", "v1", &buf); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled: err = %v; want the context's error", err)
	}
}

// Settings the lean path does not implement leave it off.
func TestNotUsedWhere(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("a", "b", "")
	if New(Options{Region: "cn-north-1", Credentials: creds}) != nil {
		t.Error("used in the aws-cn partition")
	}
	// FIPS endpoints asked for in the environment reach the client's
	// resolved options, where ForClient sees them.
	t.Setenv("AWS_USE_FIPS_ENDPOINT", "true")
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"), config.WithCredentialsProvider(creds))
	if err != nil {
		t.Fatal(err)
	}
	// AWS itself, whatever endpoint the environment of the test names.
	onAWS := func(o *s3.Options) { o.BaseEndpoint, o.UsePathStyle = nil, false }
	if ForClient(s3.NewFromConfig(cfg, onAWS), "") != nil {
		t.Error("used with AWS_USE_FIPS_ENDPOINT=true")
	}
	if ForClient(s3.NewFromConfig(cfg, onAWS, func(o *s3.Options) { o.EndpointOptions.UseFIPSEndpoint = aws.FIPSEndpointStateDisabled }), "") == nil {
		t.Error("not used once FIPS is off again")
	}
	// (Proxies are read by http.ProxyFromEnvironment once per process, as
	// the SDK's transport reads them, so they cannot be switched here.)
	t.Setenv("DYNASNAP_LEAN_GET", "0")
	if New(Options{Region: "us-east-1", Credentials: creds}) != nil {
		t.Error("used with DYNASNAP_LEAN_GET=0")
	}
}

// A server that refuses every lean request turns the Getter off, so the
// run does not pay two requests per object.
func TestGivesUp(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "SignatureDoesNotMatch", http.StatusForbidden)
	}))
	defer srv.Close()
	g := New(Options{EndpointURL: srv.URL, Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	defer g.Close()
	var buf bytes.Buffer
	for range 3 * giveUpAfter {
		if err := g.Get(context.Background(), "bkt", "k", "v", &buf); !errors.Is(err, ErrFallback) {
			t.Fatalf("err = %v; want ErrFallback", err)
		}
	}
	if n := hits.Load(); n != giveUpAfter {
		t.Errorf("server saw %d requests; want %d, then none", n, giveUpAfter)
	}
}

// With an expected bucket owner the lean GET signs and sends
// x-amz-expected-bucket-owner as the SDK would.
func TestSignatureWithOwnerMatchesSDK(t *testing.T) {
	now := time.Date(2026, 11, 27, 3, 4, 5, 0, time.UTC)
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: "tok"}
	host, path, query := "b.s3.eu-west-1.amazonaws.com", "/k/1", "versionId=v1"
	s := &signer{region: "eu-west-1", owner: "111122223333"}
	got, _ := s.authorization(creds, host, path, query, now)
	req, _ := http.NewRequest("GET", "https://"+host+path+"?"+query, nil)
	req.Header.Set("X-Amz-Checksum-Mode", "ENABLED")
	req.Header.Set("X-Amz-Content-Sha256", emptyHash)
	req.Header.Set("X-Amz-Expected-Bucket-Owner", "111122223333")
	if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
		SignHTTP(context.Background(), creds, req, emptyHash, "s3", "eu-west-1", now); err != nil {
		t.Fatal(err)
	}
	if want := req.Header.Get("Authorization"); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
}

// Through the region proxy, a bucket "in eu-west-1" owned by one account:
// the bucket's client gives a lean getter signed for eu-west-1 that sends
// the owner and is served; with another owner every GET is refused and
// falls back to the SDK, which names bucket and account.
func TestGetInBucketRegionWithOwner(t *testing.T) {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, true)
	ctx := context.Background()
	out, err := c.S3().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader(`{"a":{"S":"b"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	p := regionproxy.New(t, regionproxy.Config{Target: os.Getenv("AWS_ENDPOINT_URL_S3"), Regions: map[string]string{bucket: "eu-west-1"}, Owner: "111122223333"})
	t.Setenv("AWS_ENDPOINT_URL_S3", p.URL)
	for _, owner := range []string{"111122223333", "444455556666"} {
		cs, err := awsconf.Load(ctx, awsconf.Options{Region: "us-east-1", ExpectedBucketOwner: owner})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := cs.S3For(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		if cl.Options().Region != "eu-west-1" {
			t.Fatalf("client for %s signs for %s", bucket, cl.Options().Region)
		}
		r := NewReader(cl, cs.ExpectedBucketOwner())
		var buf bytes.Buffer
		err = r.Read(ctx, bucket, "k", aws.ToString(out.VersionId), &buf)
		served, fell := r.lean.Stats()
		r.Close()
		if owner == "111122223333" {
			if err != nil || buf.String() != `{"a":{"S":"b"}}` || served != 1 || fell != 0 {
				t.Errorf("right owner: %v %q, served %d, fell back %d", err, buf.String(), served, fell)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), bucket) || !strings.Contains(err.Error(), owner) || served != 0 {
			t.Errorf("wrong owner: err %v, served %d", err, served)
		}
	}
	if n := p.Stats().HeadBucket[bucket]; n != 2 {
		t.Errorf("%d HeadBucket calls for two runs, want 2", n)
	}
}
