package bench

import (
	"context"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/awsconf"
)

// Experiment only (not committed): the raw ceiling on a seeded dataset.
func TestExpCeiling(t *testing.T) {
	if os.Getenv("EXP_ITEMS") == "" {
		t.Skip()
	}
	ctx := context.Background()
	items, _ := strconv.Atoi(os.Getenv("EXP_ITEMS"))
	vers, _ := strconv.Atoi(os.Getenv("EXP_VERSIONS"))
	del, _ := strconv.Atoi(os.Getenv("EXP_DELETED"))
	clients, err := awsconf.Load(ctx, awsconf.Options{MaxConns: 256})
	if err != nil {
		t.Fatal(err)
	}
	cl := clients.S3()
	d := NewDataset(items, vers, del)
	m, ok, err := readMarker(ctx, cl, d.Bucket)
	if err != nil || !ok {
		t.Fatal(err, ok)
	}
	s := Seeded{Marker: m}
	objs, err := LatestLive(ctx, cl, s.Location(s.Table))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("source %s", s.Source())
	os.WriteFile("/tmp/exp/source", []byte(s.Source()), 0o644)
	if os.Getenv("EXP_LISTONLY") != "" {
		return
	}
	if os.Getenv("EXP_LATEST") != "" {
		server := startServerCPU()
		var next atomic.Int64
		var wg sync.WaitGroup
		st := time.Now()
		for range 256 {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= len(objs) {
						return
					}
					out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(objs[i].Key)})
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, out.Body)
					out.Body.Close()
				}
			})
		}
		wg.Wait()
		sc, _ := server.stop()
		t.Logf("latest GETs: %.0f/s server %v", float64(len(objs))/time.Since(st).Seconds(), sc)
	}
	c, err := Ceiling(ctx, cl, s.Bucket, objs, 256)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ceiling %.0f items/s (%.1fs) server %v client %v", c.ItemsPerSecond(), c.Seconds, c.ServerCPU, c.ClientCPU)
}

func TestExpListPages(t *testing.T) {
	if os.Getenv("EXP_PREFIX") == "" {
		t.Skip()
	}
	ctx := context.Background()
	clients, err := awsconf.Load(ctx, awsconf.Options{MaxConns: 16})
	if err != nil {
		t.Fatal(err)
	}
	cl := clients.S3()
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(os.Getenv("EXP_BUCKET")), Prefix: aws.String(os.Getenv("EXP_PREFIX"))}
	if m := os.Getenv("EXP_MARKER"); m != "" {
		in.KeyMarker = aws.String(m)
	}
	for page := 0; page < 5; page++ {
		st := time.Now()
		out, err := cl.ListObjectVersions(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		n := len(out.Versions) + len(out.DeleteMarkers)
		t.Logf("page %d: %d entries in %v, next key %s", page, n, time.Since(st), aws.ToString(out.NextKeyMarker))
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}

func TestExpProxyServe(t *testing.T) {
	if os.Getenv("EXP_PROXY") == "" {
		t.Skip()
	}
	p, err := StartLatencyProxy(os.Getenv("AWS_ENDPOINT_URL_S3"), 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile("/tmp/exp/proxyurl", []byte(p.URL), 0o644)
	time.Sleep(30 * time.Minute)
}
