package stream

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/testsupport/backuptest"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// Against the real SeaweedFS, through a proxy that fails one key's PUTs:
// the first failed record is reported, the replay fills in the rest, and
// every key's versions list in stream order with delete markers in place.
func TestStreamAgainstSeaweedFS(t *testing.T) {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, true)
	ctx := context.Background()
	proxy := backuptest.NewProxy(t, os.Getenv("AWS_ENDPOINT_URL_S3"))
	pc, err := awsconf.Load(ctx, awsconf.Options{EndpointURL: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(pc.S3(), Config{Bucket: bucket, Prefix: "backups", Concurrency: 8, SkipApplied: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// objKey names keys in any bucket: the layout puts no bucket in a key.
	keyOf := func(k string) string { return objKey(t, k) }
	bad := keyOf(key2)
	proxy.Fail(func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/"+bad)
	})

	ev := loadEvent(t, "batch.json")
	resp, err := h.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "111100000000000000000002" {
		t.Fatalf("failures %+v", resp.BatchItemFailures)
	}
	proxy.Fail(nil)
	if resp, err = h.Handle(ctx, Event{Records: ev.Records[1:]}); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("replay: %v %+v", err, resp.BatchItemFailures)
	}
	for k, wantH := range want {
		vs, err := backuptest.History(ctx, c.S3(), bucket, keyOf(k))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range vs {
			if v.DeleteMarker {
				got = append(got, "del")
			} else {
				got = append(got, "put:"+strings.TrimLeft(strings.TrimPrefix(v.Meta[backup.MetaSequenceNumber], "1111"), "0"))
			}
		}
		if strings.Join(got, " ") != wantH {
			t.Errorf("%s: versions %q, want %q", k, strings.Join(got, " "), wantH)
		}
	}
	vs, _ := backuptest.History(ctx, c.S3(), bucket, keyOf(key1))
	if got := string(vs[0].Body); got != `{"balance":{"N":"12345678901234567890123456789012345678"},"blob":{"B":"AAECAwQ="},"name":{"S":"Ada"},"pk":{"S":"user#1"},"sk":{"N":"1"}}` {
		t.Errorf("body %s", got)
	}
	if vs[0].ContentType != "application/json" {
		t.Errorf("content type %q", vs[0].ContentType)
	}
}

func TestStreamRefusesUnversionedBucket(t *testing.T) {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, false)
	h, err := New(c.S3(), Config{Bucket: bucket}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Handle(context.Background(), loadEvent(t, "batch.json")); err == nil || !strings.Contains(err.Error(), "versioning") {
		t.Fatalf("error %v", err)
	}
}
