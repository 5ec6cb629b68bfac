package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/faultproxy"
	"github.com/dynasnap/dynasnap/internal/testsupport/reliability"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// relSecret is a distinctive secret key: no output may ever contain it.
const relSecret = "RELIABILITY-SECRET-wJalrXUtnFEMI-K7MDENG-bPxRfiCY"

// relCase is one bad input: the command, and what its stderr must say.
type relCase struct {
	area, tried string
	env         []string
	args        []string
	code        int      // the exit code wanted; -1: any non-zero
	want        []string // substrings of stderr (the object, line or value named)
	outcome     string
}

func (c relCase) check(t *testing.T) {
	t.Helper()
	start := time.Now()
	o, e, code := relRun(t, c.env, c.args...)
	ok := (c.code == -1 && code != 0) || code == c.code
	for _, w := range c.want {
		ok = ok && strings.Contains(e, w)
	}
	leak := strings.Contains(o+e, relSecret)
	reliability.Record(t, reliability.Result{Area: c.area, Tried: c.tried, Outcome: c.outcome, Exit: code, Message: e,
		Seconds: time.Since(start).Seconds()})
	if !ok {
		t.Errorf("%s: exit %d, stderr %q; want exit %d naming %q", c.tried, code, e, c.code, c.want)
	}
	if leak {
		t.Errorf("%s: the secret key appears in the output", c.tried)
	}
}

// TestReliabilityBadObjects: each kind of unreadable backup version stops
// the snapshot with an error naming the object, or, with
// --skip-bad-objects, is skipped, listed, and nothing else is lost.
func TestReliabilityBadObjects(t *testing.T) {
	c := testenv.Clients(t)
	cl := c.S3()
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	big := fmt.Sprintf(`{"pk":{"S":"big"},"blob":{"S":%q}}`, strings.Repeat("x", 450*1024))
	cases := []struct{ name, tried, body string }{
		{"notjson", "a backup object that is not JSON", "this is not JSON {"},
		{"empty", "an empty backup object", ""},
		{"wrongtype", "a backup object of the wrong type (plain JSON, not DynamoDB JSON)", `{"pk":"plain","n":1}`},
		{"array", "a backup object holding a JSON array", `[{"pk":{"S":"a"}}]`},
		{"big", "a backup object over 400 KB", big},
		{"archived", "a version in an archive storage class (GET answers 403 InvalidObjectState)", ""},
	}
	const good = 10
	var archivedKey string
	srcs := map[string]layout.Location{}
	badKeys := map[string]string{}
	for _, cs := range cases {
		src := layout.TableLocation(bucket, "backups", cs.name)
		srcs[cs.name] = src
		relParallel(good, func(i int) {
			it, _ := item.Unmarshal([]byte(fmt.Sprintf(`{"pk":{"S":"k%d"},"v":{"N":"%d"}}`, i, i)))
			id, _ := item.KeyID(it)
			b, _ := item.Marshal(it)
			if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(src.ObjectKey(id)), Body: bytes.NewReader(b)}); err != nil {
				t.Error(err)
			}
		})
		key := src.ObjectKey(strings.Repeat("f", 64))
		body := cs.body
		if cs.name == "archived" {
			archivedKey, body = key, `{"pk":{"S":"cold"}}`
		}
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		badKeys[cs.name] = key
	}
	at := time.Now().Add(time.Second).UTC().Format(time.RFC3339)
	time.Sleep(1500 * time.Millisecond)
	p := faultproxy.New(t, faultproxy.Config{Target: os.Getenv("AWS_ENDPOINT_URL_S3"),
		Archived: func(b, k string) bool { return b == bucket && k == archivedKey }})

	for _, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			src, key := srcs[cs.name], badKeys[cs.name]
			out := filepath.Join(t.TempDir(), "snap")
			want := []string{key}
			if cs.name == "archived" {
				want = append(want, "restore-object")
			}
			relCase{area: "snapshot", tried: cs.tried, code: 1, want: want,
				args:    []string{"snapshot", "--source", src.String(), "--at", at, "--out", out, "--endpoint-url", p.URL, "--quiet"},
				outcome: "stops, exit 1, names the object and version; no manifest-summary.json"}.check(t)
			if _, err := os.Stat(filepath.Join(out, "manifest-summary.json")); !os.IsNotExist(err) {
				t.Errorf("a stopped snapshot left a manifest-summary.json (%v)", err)
			}
			// Opt-in skipping: the others are all there, the bad one listed.
			out2 := filepath.Join(t.TempDir(), "snap")
			o, e, code := relRun(t, nil, "snapshot", "--source", src.String(), "--at", at, "--out", out2, "--endpoint-url", p.URL,
				"--skip-bad-objects", "--json", "--quiet")
			var sum struct {
				Items   int
				Skipped []struct{ Key string } `json:"skippedObjects"`
			}
			json.Unmarshal([]byte(o), &sum)
			ok := code == 0 && sum.Items == good && len(sum.Skipped) == 1 && sum.Skipped[0].Key == key
			got := relSnapshotModelAny(t, out2)
			reliability.Record(t, reliability.Result{Area: "snapshot --skip-bad-objects", Tried: cs.tried,
				Outcome: fmt.Sprintf("completes, exit %d; %d good items kept, the bad key listed in skippedObjects", code, sum.Items),
				Checked: good, Lost: int64(good - got), Exit: code, Message: "skippedObjects: " + key})
			if !ok || got != good {
				t.Errorf("--skip-bad-objects: exit %d, %s, %d items read back\n%s", code, o, got, e)
			}
		})
	}
}

// relSnapshotModelAny counts the items of a snapshot through the checked reader.
func relSnapshotModelAny(t *testing.T, dir string) int {
	return len(relSnapshotModel(t, testenv.Clients(t), dir))
}

// TestReliabilityBadInput: every other bad input stops with a clear error
// that names what is wrong, and the secret key never shows.
func TestReliabilityBadInput(t *testing.T) {
	c := testenv.Clients(t)
	ddb := c.DynamoDB()
	src, want, at := relSeed(t, c, 60)
	snap := filepath.Join(t.TempDir(), "snap")
	if _, e, code := run(t, "snapshot", "--source", src.String(), "--at", at, "--out", snap, "--compression", "none", "--file-size", "1KiB", "--quiet"); code != 0 {
		t.Fatal(e)
	}
	unversioned := testenv.Bucket(t, c, false)
	if _, err := c.S3().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(unversioned),
		Key: aws.String("backups/orders/" + strings.Repeat("a", 64)), Body: strings.NewReader(`{"pk":{"S":"a"}}`)}); err != nil {
		t.Fatal(err)
	}
	missing := testenv.Name("no-such-bucket")
	noTable := testenv.Name("no-such-table")
	wrongCreds := []string{"AWS_SECRET_ACCESS_KEY=" + relSecret}

	for _, cs := range []relCase{
		{area: "snapshot", tried: "missing bucket", args: []string{"snapshot", "--source", "s3://" + missing + "/backups/orders", "--out", t.TempDir() + "/s"},
			code: 1, want: []string{missing}, outcome: "stops, exit 1, names the bucket"},
		{area: "snapshot", tried: "unversioned bucket", args: []string{"snapshot", "--source", "s3://" + unversioned + "/backups/orders", "--out", t.TempDir() + "/s"},
			code: 1, want: []string{unversioned, "versioning"}, outcome: "stops, exit 1, says how to enable versioning"},
		{area: "backfill", tried: "unversioned bucket", args: []string{"backfill", "--table", noTable, "--dest", "s3://" + unversioned + "/backups", "--quiet"},
			code: 1, want: []string{"versioning"}, outcome: "stops before writing, exit 1"},
		{area: "snapshot", tried: "wrong credentials (bad secret key)", env: wrongCreds, args: []string{"snapshot", "--source", src.String(), "--out", t.TempDir() + "/s"},
			code: 1, want: []string{"credentials were not accepted"}, outcome: "stops, exit 1, says the credentials were refused, the secret never shown"},
		{area: "restore", tried: "wrong credentials (bad secret key)", env: wrongCreds, args: []string{"restore", "--source", src.String(), "--at", at, "--table", noTable},
			code: -1, want: []string{}, outcome: "stops, non-zero exit, the secret never shown"},
		{area: "snapshot", tried: "unparseable --at", args: []string{"snapshot", "--source", src.String(), "--out", t.TempDir() + "/s", "--at", "last tuesday"},
			code: 2, want: []string{"last tuesday", "RFC 3339"}, outcome: "usage error, exit 2, before any request"},
		{area: "restore", tried: "unparseable --at", args: []string{"restore", "--source", src.String(), "--at", "2026-13-45", "--table", noTable},
			code: 2, want: []string{"2026-13-45"}, outcome: "usage error, exit 2, before any request"},
		{area: "diff", tried: "unparseable --from", args: []string{"diff", "--source", src.String(), "--from", "soon"},
			code: 2, want: []string{"soon"}, outcome: "usage error, exit 2"},
		{area: "restore", tried: "nonexistent table", args: []string{"restore", "--snapshot", snap, "--table", noTable},
			code: 1, want: []string{noTable, "does not exist"}, outcome: "stops, exit 1, suggests --create-table"},
		{area: "verify", tried: "nonexistent table", args: []string{"verify", "--snapshot", snap, "--table", noTable},
			code: -1, want: []string{noTable, "does not exist"}, outcome: "stops, non-zero exit, names the table"},
		{area: "backfill", tried: "nonexistent table", args: []string{"backfill", "--table", noTable, "--dest", "s3://" + src.Bucket + "/other", "--quiet"},
			code: 1, want: []string{noTable}, outcome: "stops, exit 1, names the table"},
		{area: "snapshot", tried: "--out already holds a snapshot", args: []string{"snapshot", "--source", src.String(), "--at", at, "--out", snap},
			code: 1, want: []string{"already holds a snapshot"}, outcome: "refused, exit 1, the existing snapshot untouched"},
		{area: "restore", tried: "--snapshot is a folder without manifest-summary.json", args: []string{"restore", "--snapshot", t.TempDir(), "--table", noTable},
			code: -1, want: []string{"manifest-summary.json"}, outcome: "refused: an incomplete snapshot is not a snapshot"},
	} {
		cs.check(t)
	}

	// A snapshot part cut short, and one with a changed byte (its MD5 no
	// longer matches manifest-files.json): restore and verify refuse it,
	// naming the file.
	files, _ := filepath.Glob(filepath.Join(snap, "data", "*.json"))
	if len(files) < 2 {
		t.Fatalf("want 2+ data files, got %v", files)
	}
	for _, tc := range []struct{ name, tried string }{{"truncated", "a snapshot data file truncated"}, {"corrupt", "a snapshot data file with one byte changed (MD5 mismatch)"}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "snap")
			if err := os.CopyFS(dir, os.DirFS(snap)); err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(dir, "data", filepath.Base(files[0]))
			b, _ := os.ReadFile(f)
			var changedKey string
			if tc.name == "truncated" {
				b = b[:len(b)/2]
			} else {
				// Change the first digit of the first item's number, so the
				// line is still a valid item: only the checksum can tell,
				// and only at the end of the file.
				i := bytes.Index(b, []byte(`{"N":"`)) + 6
				if b[i] == '9' {
					b[i] = '8'
				} else {
					b[i]++
				}
				line := b[:bytes.IndexByte(b, '\n')]
				if j := bytes.Index(line, []byte(`"pk":{"S":"`)); j >= 0 {
					changedKey = string(line[j+11 : j+11+bytes.IndexByte(line[j+11:], '"')])
				}
			}
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(f)
			table := relTable(t, ddb)
			relCase{area: "restore", tried: tc.tried, args: []string{"restore", "--snapshot", dir, "--table", table, "--quiet",
				"--checkpoint", filepath.Join(t.TempDir(), "cp.json")}, code: -1, want: []string{name},
				outcome: "stops, non-zero exit, names the data file"}.check(t)
			if tc.name == "corrupt" && changedKey != "" {
				// Did the altered item reach the table before the checksum,
				// which is only known at the end of the file, failed it?
				got := relTableModel(t, ddb, table)
				if v, ok := got[changedKey]; ok && v != want[changedKey] {
					reliability.Record(t, reliability.Result{Area: "restore", Tried: tc.tried + ": what reached the table",
						Outcome: "the altered item " + changedKey + " WAS WRITTEN before the MD5 mismatch stopped the restore (reported)",
						Checked: 1, Lost: 1, Exit: 1})
					t.Logf("restore wrote the altered item %s before detecting the MD5 mismatch: %s", changedKey, v)
				} else {
					reliability.Record(t, reliability.Result{Area: "restore", Tried: tc.tried + ": what reached the table",
						Outcome: "the altered item (" + changedKey + ", first line of the file) did not reach the table", Checked: 1, Exit: 1})
				}
			}
			relCase{area: "verify", tried: tc.tried, args: []string{"verify", "--snapshot", dir, "--table", table, "--quiet"},
				code: -1, want: []string{name}, outcome: "stops, non-zero exit, names the data file"}.check(t)
			relCase{area: "snapshot --base", tried: tc.tried + " used as --base", args: []string{"snapshot", "--source", src.String(),
				"--at", at, "--out", filepath.Join(t.TempDir(), "inc"), "--base", dir, "--quiet"},
				code: -1, want: []string{name}, outcome: "stops, non-zero exit, names the base's data file; no manifest-summary.json"}.check(t)
		})
	}
}
