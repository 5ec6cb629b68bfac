package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

const testDelay = 20 * time.Millisecond

// The proxy must pass the client's Host through and add no X-Forwarded-*:
// both are what the server checks a SigV4 signature against.
func TestProxyForwardsUnchanged(t *testing.T) {
	type seen struct {
		host, path, query, fwd, body string
	}
	got := make(chan seen, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Host, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("X-Forwarded-Host") + r.Header.Get("X-Forwarded-For"), string(b)}
		w.Write([]byte("ok"))
	}))
	defer backend.Close()
	p, err := StartLatencyProxy(backend.URL, testDelay)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	start := time.Now()
	req, _ := http.NewRequest("PUT", p.URL+"/bucket/a%2Fb/c?versionId=x%2By", strings.NewReader("payload"))
	req.Host = "client-signed-host:1234"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if elapsed := time.Since(start); elapsed < testDelay {
		t.Errorf("request took %v through the proxy; want at least the %v delay", elapsed, testDelay)
	}
	s := <-got
	want := seen{"client-signed-host:1234", "/bucket/a%2Fb/c", "versionId=x%2By", "", "payload"}
	if s != want {
		t.Errorf("backend saw %+v; want %+v", s, want)
	}
}

// Against the real SeaweedFS: requests signed for the proxy's address are
// accepted through it, each takes at least the delay, and a badly signed one
// is still refused (so the acceptance is a real signature check).
func TestProxySigV4AgainstSeaweedFS(t *testing.T) {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, true)
	p, err := StartLatencyProxy(os.Getenv("AWS_ENDPOINT_URL_S3"), testDelay)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	viaProxy, err := awsconf.Load(ctx, awsconf.Options{EndpointURL: p.URL, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	cl := viaProxy.S3()

	body := []byte(`{"pk":{"S":"k1"},"v":{"N":"1"}}`)
	start := time.Now()
	put, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("t/x/k1"), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("PutObject through the proxy: %v", err)
	}
	if elapsed := time.Since(start); elapsed < testDelay {
		t.Errorf("PutObject took %v through the proxy; want at least %v", elapsed, testDelay)
	}
	get, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("t/x/k1"), VersionId: put.VersionId})
	if err != nil {
		t.Fatalf("GetObject by version through the proxy: %v", err)
	}
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if !bytes.Equal(got, body) {
		t.Errorf("GetObject returned %q; want %q", got, body)
	}
	objs, err := LatestLive(ctx, cl, layout.TableLocation(bucket, "t", "x"))
	if err != nil {
		t.Fatalf("ListObjectVersions through the proxy: %v", err)
	}
	if len(objs) != 1 || objs[0].VersionID != aws.ToString(put.VersionId) {
		t.Errorf("listed %+v; want the one version %s", objs, aws.ToString(put.VersionId))
	}

	bad := s3.NewFromConfig(viaProxy.Config, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(p.URL)
		o.UsePathStyle = true
		o.Credentials = credentials.NewStaticCredentialsProvider("dynasnap-local", "wrong-secret", "")
		o.RetryMaxAttempts = 1
	})
	_, err = bad.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("t/x/k1")})
	var apiErr smithy.APIError
	if err == nil || !errors.As(err, &apiErr) {
		t.Fatalf("GetObject with a wrong secret through the proxy: err = %v; want an S3 error (signature refused)", err)
	}
	if code := apiErr.ErrorCode(); code != "SignatureDoesNotMatch" && code != "AccessDenied" {
		t.Errorf("GetObject with a wrong secret: error code %q; want SignatureDoesNotMatch", code)
	}
	if p.Requests.Load() < 4 {
		t.Errorf("proxy forwarded %d requests; want at least 4", p.Requests.Load())
	}
}

func TestRequestKind(t *testing.T) {
	for in, want := range map[string]string{
		"GET /b/bench/t/journal/0/x.jsonl.gz HTTP/1.1\r\n": "GET",
		"GET /b?list-type=2&prefix=bench%2F HTTP/1.1\r\n":  "LIST",
		"GET /b?versions&prefix=bench%2F HTTP/1.1\r\n":     "LIST",
		"GET /b?versioning HTTP/1.1\r\n":                   "GET",
		"GET /b/k?versionId=abc HTTP/1.1\r\n":              "GET",
		"PUT /b/k?x-id=PutObject HTTP/1.1\r\n":             "PUT",
		"HEAD /b/k HTTP/1.1\r\n":                           "HEAD",
		"DELETE /b/k?x-id=DeleteObject HTTP/1.1\r\n":       "DELETE",
		"{\"a\":1}": "",
	} {
		if got := requestKind([]byte(in)); got != want {
			t.Errorf("requestKind(%q) = %q, want %q", in, got, want)
		}
	}
}
