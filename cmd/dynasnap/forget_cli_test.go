package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/testsupport/fakesnap"

	"github.com/dynasnap/dynasnap/internal/drill"
	"github.com/dynasnap/dynasnap/internal/forget"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// forget on S3: --dry-run and --json; kill -9 in the middle of removing
// leaves no folder that reads as a finished snapshot without all its files;
// the rerun finishes the job once the half-deleted folder is older than
// --keep-unfinished. A folder inside a snapshot's backup prefix is refused.
func TestForgetCLI(t *testing.T) {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, false)
	const files = 40
	base := time.Date(2026, 1, 1, 6, 0, 0, 0, time.UTC)
	for i := range 5 {
		loc := layout.Location{Bucket: bucket, Prefix: fmt.Sprintf("snaps/s%d", i)}
		st, err := store.NewS3(c.S3(), loc, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fakesnap.Put(t, st, base.AddDate(0, 0, 7*i), "s3://"+bucket+"/backups/orders", files)
	}
	folder := "s3://" + bucket + "/snaps"

	stdout, stderr, code := cli("forget", "--snapshots", folder, "--keep-last", "1", "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, stderr)
	}
	var rep forget.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Keep) != 1 || !strings.HasSuffix(rep.Keep[0].Snapshot, "/s4") || len(rep.Remove) != 4 || !rep.DryRun ||
		!strings.Contains(strings.Join(rep.Keep[0].Reasons, ","), "newest finished snapshot") || !strings.Contains(stderr, "would remove") {
		t.Fatalf("dry run: %+v\n%s", rep, stderr)
	}

	// A proxy that slows every DELETE, so the kill lands mid-way.
	target, _ := url.Parse(os.Getenv("AWS_ENDPOINT_URL_S3"))
	rp := httputil.NewSingleHostReverseProxy(target)
	var deletes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			time.Sleep(20 * time.Millisecond)
			deletes.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cmd := exec.Command(binary(t), "forget", "--snapshots", folder, "--keep-last", "1", "--endpoint-url", srv.URL, "--quiet")
	var e bytes.Buffer
	cmd.Stderr = &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deletes.Load() < files+files/2 {
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()

	ctx := context.Background()
	parent, _ := store.Open(c, folder, store.Options{})
	sf, err := drill.ScanFolder(ctx, parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(sf.Unfinished) == 0 {
		t.Fatalf("the kill after %d deletes left no half-deleted folder (finished %v)", deletes.Load(), sf.Finished)
	}
	for _, dir := range sf.Finished {
		st, _ := store.Open(c, parent.URL(dir), store.Options{})
		s, err := snapshot.Open(ctx, st)
		if err != nil {
			t.Fatalf("%s reads as finished but does not open: %v", dir, err)
		}
		for _, f := range s.Files {
			if ok, err := st.Exists(ctx, f.Data); !ok || err != nil {
				t.Fatalf("%s reads as finished but lacks %s", dir, f.Data)
			}
		}
	}
	// The half-deleted folder is young: left alone, until --keep-unfinished 0s.
	stdout, stderr, code = cli("forget", "--snapshots", folder, "--keep-last", "1", "--json")
	if code != 0 {
		t.Fatalf("rerun: exit %d: %s", code, stderr)
	}
	rep = forget.Report{}
	json.Unmarshal([]byte(stdout), &rep)
	if len(rep.UnfinishedKept) != len(sf.Unfinished) || len(rep.Keep) != 1 {
		t.Fatalf("rerun: %+v", rep)
	}
	if _, stderr, code = cli("forget", "--snapshots", folder, "--keep-last", "1", "--keep-unfinished", "0s"); code != 0 {
		t.Fatalf("rerun with --keep-unfinished 0s: exit %d: %s", code, stderr)
	}
	left, _ := parent.List(ctx, "")
	for _, n := range left {
		if !strings.HasPrefix(n, "s4/") {
			t.Errorf("left behind: %s", n)
		}
	}
	if len(left) != files+2 {
		t.Errorf("%d files left, want the newest snapshot's %d", len(left), files+2)
	}

	// A folder inside the backup prefix of the snapshots it holds.
	st, _ := store.NewS3(c.S3(), layout.Location{Bucket: bucket, Prefix: "backups/snaps/x"}, store.Options{})
	fakesnap.Put(t, st, base, "s3://"+bucket+"/backups/orders", 1)
	if _, stderr, code := cli("forget", "--snapshots", "s3://"+bucket+"/backups/snaps", "--keep-last", "1"); code != 1 || !strings.Contains(stderr, "inside the backup prefix") {
		t.Errorf("inside the backup prefix: exit %d: %s", code, stderr)
	}
	if _, stderr, code := cli("forget", "--snapshots", folder); code != 2 || !strings.Contains(stderr, "give a policy") {
		t.Errorf("no policy: exit %d: %s", code, stderr)
	}
}
