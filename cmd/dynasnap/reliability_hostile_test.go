package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/reliability"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// The hostile inputs of issue 30, by class: each case is recorded with its
// class and whether it was handled, for docs/RELIABILITY.md's table of
// classes.

// hostile records one case; handled is what the test checked.
func hostile(t *testing.T, class, area, tried, outcome string, exit int, msg string, handled bool) {
	t.Helper()
	reliability.Record(t, reliability.Result{Class: class, Area: area, Tried: tried, Outcome: outcome, Exit: exit, Message: msg, Handled: handled})
	if !handled {
		t.Errorf("%s: %s: not handled: exit %d: %s", class, tried, exit, msg)
	}
}

// rawSDK says whether a message shows what only --debug may: the SDK's
// operation chain or a request ID.
func rawSDK(s string) bool {
	for _, w := range []string{"operation error", "RequestID", "api error", "https response error", "StatusCode"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// hostileCase runs a CLI case and records it: handled when the exit code
// is code (-1: any non-zero), stderr names every want and shows no raw SDK
// text.
func hostileCase(t *testing.T, class, area, tried, outcome string, code int, want []string, args ...string) string {
	t.Helper()
	_, e, got := relRun(t, nil, args...)
	ok := (code == -1 && got != 0) || got == code
	for _, w := range want {
		ok = ok && strings.Contains(e, w)
	}
	ok = ok && !rawSDK(e)
	hostile(t, class, area, tried, outcome, got, e, ok)
	return e
}

// startCLI starts the CLI without waiting for it.
func startCLI(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var e bytes.Buffer
	cmd.Stderr = &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &e
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if err != nil {
		return -1
	}
	return 0
}

// TestReliabilityHostileOutputFolders: two snapshots into one folder at
// once (local and S3): one fails before writing, the other's snapshot is
// whole; a folder holding a user's files is refused and the files stay.
func TestReliabilityHostileOutputFolders(t *testing.T) {
	c := testenv.Clients(t)
	src, model, at := relSeed(t, c, 300)
	const class = "output folders"
	outBucket := testenv.Bucket(t, c, true)

	for _, where := range []string{"local", "S3"} {
		out := filepath.Join(t.TempDir(), "snap")
		if where == "S3" {
			out = "s3://" + outBucket + "/snaps/concurrent"
		}
		args := []string{"snapshot", "--source", src.String(), "--at", at, "--out", out, "--quiet", "--file-size", "4KiB"}
		a, ae := startCLI(t, args...)
		b, be := startCLI(t, args...)
		ca, cb := exitCode(a.Wait()), exitCode(b.Wait())
		loser := ae.String() + be.String()
		ok := (ca == 0) != (cb == 0) && (ca == 1 || cb == 1) && (strings.Contains(loser, "is being written by") || strings.Contains(loser, "already holds a snapshot")) && !rawSDK(loser)
		if ok {
			lost, detail := relCompare(model, relSnapshotModel(t, c, out))
			if lost > 0 {
				t.Errorf("%s: the winner's snapshot differs: %s", where, detail)
				ok = false
			}
		}
		hostile(t, class, "snapshot", "two snapshots started at once into one "+where+" --out",
			"one claims the folder; the other stops at once, exit 1, naming the folder and its holder (or the finished snapshot, when the first was done); the finished snapshot equals the model", max(ca, cb), loser, ok)
	}

	// A local folder with a user's files where a snapshot puts its own.
	dir := filepath.Join(t.TempDir(), "mine")
	user := map[string]string{"data/my-important.txt": "keep me", "sidecar/notes.md": "# notes", "data/part-00000.json.gz": "not a part"}
	for n, body := range user {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, n)), 0o755)
		os.WriteFile(filepath.Join(dir, n), []byte(body), 0o644)
	}
	e := hostileCase(t, class, "snapshot", "--out a local folder holding a user's data/my-important.txt, sidecar/notes.md and data/part-00000.json.gz",
		"refused, exit 1, naming the folder and its files; every file intact", 1, []string{dir, "did not write", "choose a new folder"},
		"snapshot", "--source", src.String(), "--at", at, "--out", dir, "--quiet")
	for n, body := range user {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err != nil || string(b) != body {
			t.Errorf("%s changed or gone (%v): %s", n, err, e)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "_started")); !os.IsNotExist(err) {
		t.Errorf("a refused run left _started (%v)", err)
	}

	// The same on S3, in a versioned bucket: no delete marker, no new version.
	ctx := context.Background()
	key := "snaps/mine/data/my-important.txt"
	if _, err := c.S3().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(outBucket), Key: aws.String(key), Body: strings.NewReader("keep me")}); err != nil {
		t.Fatal(err)
	}
	hostileCase(t, class, "snapshot", "--out an S3 prefix holding a user's object under data/",
		"refused, exit 1; the object keeps its one version, no delete marker", 1, []string{"did not write", "data/my-important.txt"},
		"snapshot", "--source", src.String(), "--at", at, "--out", "s3://"+outBucket+"/snaps/mine", "--quiet")
	vs, err := c.S3().ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(outBucket), Prefix: aws.String("snaps/mine/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.Versions) != 1 || len(vs.DeleteMarkers) != 0 {
		t.Errorf("snaps/mine/ has %d versions and %d delete markers; want the user's one version", len(vs.Versions), len(vs.DeleteMarkers))
	}

	// A claim on S3 left by a run killed mid-way (its record, no lock to
	// probe): refused, naming the holder and how to clear the folder.
	claimLeft := `{"tool":"dynasnap test","exportId":"01700000000000-deadbeef","source":"s3://b/p/t","host":"h1","pid":4242,"started":"2026-12-04T10:00:00Z"}`
	if _, err := c.S3().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(outBucket), Key: aws.String("snaps/killed/_started"), Body: strings.NewReader(claimLeft)}); err != nil {
		t.Fatal(err)
	}
	hostileCase(t, class, "snapshot", "--out an S3 folder whose claim a killed run left",
		"refused, exit 1, naming the holder (process, host, start) and the command that clears the folder", 1,
		[]string{"is being written by", "process 4242 on h1", "aws s3 rm --recursive"},
		"snapshot", "--source", src.String(), "--at", at, "--out", "s3://"+outBucket+"/snaps/killed", "--quiet")

	// diff --out and a shard into a folder holding a user's file.
	ddir := filepath.Join(t.TempDir(), "changes")
	os.MkdirAll(ddir, 0o755)
	os.WriteFile(filepath.Join(ddir, "README.txt"), []byte("mine"), 0o644)
	// diff --out writes under DEST/AWSDynamoDB/<exportId>/: a user's file
	// in DEST is never in the way, and the same export again is refused.
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	_, e, code := relRun(t, nil, "diff", "--source", src.String(), "--from", from, "--to", at, "--out", ddir)
	b, _ := os.ReadFile(filepath.Join(ddir, "README.txt"))
	hostile(t, class, "diff --out", "--out a local folder holding a user's README.txt",
		"the export goes to its own AWSDynamoDB/<exportId>/ folder; the file intact", code, e, code == 0 && string(b) == "mine")
	hostileCase(t, class, "diff --out", "the same export again into the same --out", "refused, exit 1, the export untouched", 1,
		[]string{"already holds an export"}, "diff", "--source", src.String(), "--from", from, "--to", at, "--out", ddir)
	sdir := filepath.Join(t.TempDir(), "sharded")
	os.MkdirAll(filepath.Join(sdir, "data"), 0o755)
	os.WriteFile(filepath.Join(sdir, "data", "report.csv"), []byte("mine"), 0o644)
	hostileCase(t, class, "snapshot --shard", "a shard's --out holding a user's data/report.csv",
		"refused, exit 1; the file intact", 1, []string{"did not write", "report.csv"},
		"snapshot", "--source", src.String(), "--at", at, "--out", sdir, "--shard", "0/2", "--quiet")
	if b, _ := os.ReadFile(filepath.Join(sdir, "data", "report.csv")); string(b) != "mine" {
		t.Error("data/report.csv changed")
	}

	// A second run into a finished snapshot, and a run after one that was
	// stopped by an error: the first refused, the second clean.
	fin := filepath.Join(t.TempDir(), "fin")
	if _, e, code := relRun(t, nil, "snapshot", "--source", src.String(), "--at", at, "--out", fin, "--quiet"); code != 0 {
		t.Fatal(e)
	}
	hostileCase(t, class, "snapshot", "--out a finished snapshot", "refused, exit 1, untouched", 1, []string{"already holds a snapshot"},
		"snapshot", "--source", src.String(), "--at", at, "--out", fin, "--quiet")
	bad := layout.TableLocation(outBucket, "backups", "broken")
	for i := 0; i < 3; i++ {
		body := fmt.Sprintf(`{"pk":{"S":"ok%d"}}`, i)
		if i == 2 {
			body = "not a DynamoDB item"
		}
		if _, err := c.S3().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(outBucket), Key: aws.String(bad.ObjectKey(strings.Repeat(fmt.Sprintf("%02x", i), 32))),
			Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	stopped := filepath.Join(t.TempDir(), "stopped")
	_, e, code = relRun(t, nil, "snapshot", "--source", bad.String(), "--out", stopped, "--quiet")
	left, _ := filepath.Glob(filepath.Join(stopped, "*"))
	leftData, _ := filepath.Glob(filepath.Join(stopped, "data", "*"))
	hostile(t, class, "snapshot", "a run stopped by a bad object after claiming its folder",
		"exit 1; the run removed what it wrote and its claim, so a rerun starts clean", code, e,
		code == 1 && len(leftData) == 0 && !fileExists(filepath.Join(stopped, "_started")) && len(left) <= 2)
	if _, e, code := relRun(t, nil, "snapshot", "--source", bad.String(), "--out", stopped, "--quiet", "--skip-bad-objects"); code != 0 {
		t.Errorf("rerun after a stopped run: exit %d: %s", code, e)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestReliabilityHostileDamagedRestore: a data file with one item edited
// (line count unchanged) and one cut short: restore writes nothing from
// it, names the file and why, and the count it reports is what the table
// holds.
func TestReliabilityHostileDamagedRestore(t *testing.T) {
	c := testenv.Clients(t)
	src, _, at := relSeed(t, c, 300)
	const class = "restore from damaged data"
	for _, tc := range []struct{ name, tried string }{
		{"edited", "one item edited in an uncompressed data file, line count unchanged (MD5 no longer matches)"},
		{"truncated", "a data file cut short in the middle"},
	} {
		snap := filepath.Join(t.TempDir(), "snap")
		if _, e, code := relRun(t, nil, "snapshot", "--source", src.String(), "--at", at, "--out", snap, "--compression", "none", "--file-size", "8KiB", "--quiet"); code != 0 {
			t.Fatal(e)
		}
		files, _ := filepath.Glob(filepath.Join(snap, "data", "*.json"))
		if len(files) < 3 {
			t.Fatalf("want 3+ data files, got %d", len(files))
		}
		bad := files[len(files)/2]
		b, _ := os.ReadFile(bad)
		if tc.name == "edited" {
			b = bytes.Replace(b, []byte(`"total":{"N":"`), []byte(`"total":{"N":"9`), 1)
		} else {
			b = b[:len(b)/2]
		}
		os.WriteFile(bad, b, 0o644)
		table := relTable(t, c.DynamoDB())
		_, e, code := relRun(t, nil, "restore", "--snapshot", snap, "--table", table, "--quiet", "--workers", "2",
			"--checkpoint", filepath.Join(t.TempDir(), "cp.json"))
		got := relTableModel(t, c.DynamoDB(), table)
		// Nothing of the damaged file is in the table.
		fromBad := 0
		for _, l := range bytes.Split(b, []byte("\n")) {
			for pk := range got {
				if bytes.Contains(l, []byte(`"pk":{"S":"`+pk+`"}`)) {
					fromBad++
				}
			}
		}
		written := fmt.Sprintf("%d items written", len(got))
		ok := code == 1 && strings.Contains(e, filepath.Base(bad)) && strings.Contains(e, "nothing of") &&
			fromBad == 0 && strings.Contains(e, written) && !strings.Contains(e, "rerun the same command")
		hostile(t, class, "restore --snapshot", tc.tried,
			"exit 1 before any item of that file is written, naming the file and why; the count reported equals the items in the table; no rerun advised",
			code, e, ok)
		if !ok {
			t.Logf("%d items from the damaged file in the table; table holds %d", fromBad, len(got))
		}
	}
}

// TestReliabilityHostileMessages: the raw SDK messages of issue 30
// replaced by ones that name the resource and what to do.
func TestReliabilityHostileMessages(t *testing.T) {
	c := testenv.Clients(t)
	src, _, _ := relSeed(t, c, 5)
	const class = "messages"
	missing := testenv.Name("no-such-bucket")
	noTable := testenv.Name("no-such-table")
	table := relTable(t, c.DynamoDB())
	e := hostileCase(t, class, "snapshot", "--source in a bucket that does not exist",
		"one error naming the bucket; no lifecycle warning first", 1, []string{missing, "does not exist"},
		"snapshot", "--source", "s3://"+missing+"/backups/orders", "--out", t.TempDir()+"/s")
	if strings.Contains(e, "lifecycle") {
		t.Errorf("a lifecycle warning before the error: %s", e)
	}
	hostileCase(t, class, "backfill", "--table that does not exist", "exit 1, names the table, says to check --table and --region", 1,
		[]string{noTable, "does not exist", "--region"}, "backfill", "--table", noTable, "--dest", "s3://"+src.Bucket+"/other", "--quiet")
	hostileCase(t, class, "backfill", "--table of 300 characters", "usage error, exit 2, DynamoDB's naming rule, before any request", 2,
		[]string{"not a DynamoDB table name", "255"}, "backfill", "--table", strings.Repeat("t", 300), "--dest", "s3://"+src.Bucket+"/other", "--quiet")
	hostileCase(t, class, "backfill", "--dest in a bucket that does not exist", "exit 1, names the bucket, says it does not exist", 1,
		[]string{missing, "does not exist"}, "backfill", "--table", table, "--dest", "s3://"+missing+"/backups", "--quiet")
	hostileCase(t, class, "verify", "--table of 2 characters", "usage error, exit 2", 2, []string{"not a DynamoDB table name"},
		"verify", "--snapshot", t.TempDir(), "--table", "ab")
	hostileCase(t, class, "restore", "--table with a space", "usage error, exit 2", 2, []string{"not a DynamoDB table name"},
		"restore", "--snapshot", t.TempDir(), "--table", "my table")
	// --debug keeps what the plain message leaves out.
	_, e, code := relRun(t, nil, "backfill", "--table", noTable, "--dest", "s3://"+src.Bucket+"/other", "--quiet", "--debug")
	hostile(t, class, "backfill", "--debug with a missing table", "the plain message, then the whole error chain with the request ID", code, e,
		code == 1 && strings.Contains(e, "debug: ") && strings.Contains(e, "ResourceNotFoundException"))
}

// TestReliabilityHostileNotDynamoDB: backup versions that are not valid
// DynamoDB data, each with one good item beside it: the snapshot stops
// naming the object (or, with --skip-bad-objects, leaves it out and lists
// it); none is written into the snapshot as if it were an item.
func TestReliabilityHostileNotDynamoDB(t *testing.T) {
	c := testenv.Clients(t)
	const class = "not DynamoDB data"
	ctx := context.Background()
	bucket := testenv.Bucket(t, c, true)
	good := `{"pk":{"S":"good"}}`
	for i, tc := range []struct{ tried, body, key string }{
		{"a number that is not a number", `{"pk":{"S":"k"},"n":{"N":"abc"}}`, ""},
		{"a number beyond DynamoDB's range (1E+200)", `{"pk":{"S":"k"},"n":{"N":"1E+200"}}`, ""},
		{"an empty string set", `{"pk":{"S":"k"},"s":{"SS":[]}}`, ""},
		{"a string set with a duplicate", `{"pk":{"S":"k"},"s":{"SS":["a","a"]}}`, ""},
		{"an empty string as the key", `{"pk":{"S":""}}`, ""},
		{"binary that is not base64", `{"pk":{"S":"k"},"b":{"B":"!!!"}}`, ""},
		{"two types in one value", `{"pk":{"S":"k","N":"1"}}`, ""},
		{"NULL false", `{"pk":{"S":"k"},"x":{"NULL":false}}`, ""},
		{"an item stored under another item's key (object id of pk=other)", `{"pk":{"S":"k"}}`, `{"pk":{"S":"other"}}`},
		{"an item without its key attribute", `{"other":{"S":"k"}}`, `{"pk":{"S":"k"}}`},
	} {
		src := layout.TableLocation(bucket, "backups", fmt.Sprintf("t%d", i))
		put := func(key, body string) {
			it, _ := itemOf(key)
			id, err := itemKeyID(it)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if _, err := c.S3().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(src.ObjectKey(id)), Body: strings.NewReader(body)}); err != nil {
				t.Fatal(err)
			}
		}
		put(good, good)
		k := tc.key
		if k == "" {
			k = `{"pk":{"S":"k"}}`
		}
		put(k, tc.body)
		time.Sleep(1100 * time.Millisecond)
		out := filepath.Join(t.TempDir(), "s")
		_, e, code := relRun(t, nil, "snapshot", "--source", src.String(), "--out", out, "--quiet")
		ok := code == 1 && strings.Contains(e, src.Prefix) && !fileExists(filepath.Join(out, "manifest-summary.json"))
		hostile(t, class, "snapshot", tc.tried, "stops, exit 1, naming the object, its version and why; no snapshot written", code, e, ok)
	}
}

func itemOf(s string) (item.Item, error) { return item.Unmarshal([]byte(s)) }

// itemKeyID is the object id of a test item keyed by pk.
func itemKeyID(it item.Item) (string, error) { return item.KeyID(it, "pk") }

// TestReliabilityHostileSweep: the other classes of issue 30 over the
// commands they apply to: time arguments, names put into another
// language's text, folders taken for snapshots by forget, flags and
// manifests.
func TestReliabilityHostileSweep(t *testing.T) {
	c := testenv.Clients(t)
	src, _, at := relSeed(t, c, 40)
	ctx := context.Background()
	noTable := testenv.Name("no-such-table")
	tmp := t.TempDir()

	const times = "time arguments"
	for _, tc := range []struct {
		area, tried string
		want        []string
		args        []string
	}{
		{"snapshot", "--at +2h (a sign that reads 'from now')", []string{"from now", "-2h"}, []string{"snapshot", "--source", src.String(), "--out", tmp + "/t1", "--at", "+2h"}},
		{"diff", "--to +1h", []string{"from now"}, []string{"diff", "--source", src.String(), "--from", "-2h", "--to", "+1h"}},
		{"restore --source", "--at 1970-01-01T00:00:00Z (the Unix epoch: an unset value)", []string{"before S3 existed"}, []string{"restore", "--source", src.String(), "--at", "1970-01-01T00:00:00Z", "--table", noTable}},
		{"diff", "--from 0001-01-01T00:00:00Z (Go's zero time)", []string{"before S3 existed"}, []string{"diff", "--source", src.String(), "--from", "0001-01-01T00:00:00Z"}},
		{"snapshot", "--at -200000h (23 years ago)", []string{"before S3 existed"}, []string{"snapshot", "--source", src.String(), "--out", tmp + "/t2", "--at", "-200000h"}},
		{"snapshot", "--at 2026-12-04T10:00:00 (no zone: local or UTC?)", []string{"RFC 3339"}, []string{"snapshot", "--source", src.String(), "--out", tmp + "/t3", "--at", "2026-12-04T10:00:00"}},
		{"snapshot", "--at 2026-12-04 10:00:00Z (a space for the T)", []string{"RFC 3339"}, []string{"snapshot", "--source", src.String(), "--out", tmp + "/t4", "--at", "2026-12-04 10:00:00Z"}},
		{"restore --source", "--at +30m", []string{"from now"}, []string{"restore", "--source", src.String(), "--at", "+30m", "--table", noTable}},
		{"forget", "--keep-within -7d", []string{"-7d"}, []string{"forget", "--snapshots", tmp, "--keep-within", "-7d"}},
		{"drill", "--max-rpo -30m", []string{"must not be negative"}, []string{"drill", "--snapshots", tmp, "--max-rpo", "-30m"}},
	} {
		hostileCase(t, times, tc.area, tc.tried, "usage error, exit 2, before any request; says which form to use", 2, tc.want, tc.args...)
	}

	const names = "names in other languages"
	snapBucket := testenv.Bucket(t, c, false)
	odd := "s3://" + snapBucket + "/we$(touch pwned),a=b 'q'/snap"
	if _, e, code := relRun(t, nil, "snapshot", "--source", src.String(), "--at", at, "--out", odd, "--quiet"); code != 0 {
		t.Fatal(e)
	}
	hostileCase(t, names, "athena-ddl", "--table-name with a backquote and a statement after it", "usage error, exit 2; suggests a valid name", 2,
		[]string{"Athena table names"}, "athena-ddl", odd, "--table-name", "x`; DROP TABLE y; --")
	table := relTable(t, c.DynamoDB())
	_, e, code := relRun(t, nil, "restore", "--snapshot", odd, "--table", table)
	arg := ""
	for _, l := range strings.Split(e, "\n") {
		if i := strings.Index(l, "--s3-bucket-source "); i >= 0 {
			arg = strings.TrimSuffix(strings.TrimSpace(l[i+len("--s3-bucket-source "):]), `\`)
		}
	}
	// What a shell makes of the printed argument: the JSON, whole, and
	// nothing run.
	shellOut, _ := exec.Command("sh", "-c", "cd "+t.TempDir()+" && printf %s "+arg+" && ls").Output()
	wantArg := `{"S3Bucket":"` + snapBucket + `","S3KeyPrefix":"we$(touch pwned),a=b 'q'/snap/data/"}`
	hostile(t, names, "restore --snapshot", "the printed import-table command, for a snapshot under a prefix holding $(…), a comma, '=' and quotes",
		"bucket and prefix in JSON, quoted for the shell: pasted, the shell passes them whole and runs nothing", code, string(shellOut),
		code == 0 && string(shellOut) == wantArg)

	const folders = "folders taken for snapshots"
	snaps := filepath.Join(tmp, "snaps")
	for _, d := range []string{"s1", "s2"} {
		if _, e, code := relRun(t, nil, "snapshot", "--source", src.String(), "--at", at, "--out", filepath.Join(snaps, d), "--quiet"); code != 0 {
			t.Fatal(e)
		}
	}
	os.WriteFile(filepath.Join(snaps, "s1", "notes.md"), []byte("mine"), 0o644)
	os.MkdirAll(filepath.Join(snaps, "reports", "data"), 0o755)
	os.WriteFile(filepath.Join(snaps, "reports", "data", "q3.csv"), []byte("mine"), 0o644)
	old := time.Now().Add(-72 * time.Hour)
	os.Chtimes(filepath.Join(snaps, "reports", "data", "q3.csv"), old, old)
	o, e, code := relRun(t, nil, "forget", "--snapshots", snaps, "--keep-last", "1", "--keep-unfinished", "1h")
	_, errNotes := os.Stat(filepath.Join(snaps, "s1", "notes.md"))
	_, errCSV := os.Stat(filepath.Join(snaps, "reports", "data", "q3.csv"))
	removed := !fileExists(filepath.Join(snaps, "s1", "manifest-summary.json")) || !fileExists(filepath.Join(snaps, "s2", "manifest-summary.json"))
	hostile(t, folders, "forget", "a user's notes.md inside a snapshot folder that the policy removes",
		"the snapshot's own files removed (its manifests, the files they list, dynasnap's names); notes.md left and named", code, o+e,
		code == 0 && removed && errNotes == nil && strings.Contains(o+e, "notes.md"))
	hostile(t, folders, "forget", "a user's reports/data/q3.csv, three days old, beside the snapshots (a data/ folder without a snapshot)",
		"not taken for an unfinished snapshot: untouched, not listed", code, o+e, code == 0 && errCSV == nil && !strings.Contains(o+e, "reports"))

	const flags = "flags and manifests"
	snap := filepath.Join(tmp, "m")
	if _, e, code := relRun(t, nil, "snapshot", "--source", src.String(), "--at", at, "--out", snap, "--quiet"); code != 0 {
		t.Fatal(e)
	}
	edit := func(name, from, to string) func() {
		p := filepath.Join(snap, name)
		orig, _ := os.ReadFile(p)
		md5, _ := os.ReadFile(strings.TrimSuffix(p, ".json") + ".md5")
		os.WriteFile(p, bytes.Replace(orig, []byte(from), []byte(to), 1), 0o644)
		// Without the .md5 (as a careless edit leaves it, or an export
		// without one), only the new checks can tell.
		os.Remove(strings.TrimSuffix(p, ".json") + ".md5")
		return func() {
			os.WriteFile(p, orig, 0o644)
			os.WriteFile(strings.TrimSuffix(p, ".json")+".md5", md5, 0o644)
		}
	}
	undo := edit("manifest-summary.json", `"itemCount": `, `"itemCount": 1`)
	hostileCase(t, flags, "restore --snapshot", "manifest-summary.json's itemCount edited (its .md5 removed)", "refused before any write, exit 1: the manifests disagree",
		1, []string{"manifests disagree"}, "restore", "--snapshot", snap, "--table", relTable(t, c.DynamoDB()), "--quiet")
	undo()
	sum, _ := os.ReadFile(filepath.Join(snap, "manifest-summary.json"))
	i := bytes.Index(sum, []byte(`"exportTime": "`))
	exportTime := string(sum[i+len(`"exportTime": "`) : i+len(`"exportTime": "`)+24])
	undo = edit("manifest-summary.json", exportTime, "2020-01-01T00:00:00.000Z")
	hostileCase(t, flags, "verify", "manifest-summary.json's exportTime moved before its items' versions", "stops, exit 1: a version after the snapshot's time",
		1, []string{"after the snapshot's time"}, "verify", "--snapshot", snap, "--table", relTable(t, c.DynamoDB()), "--quiet")
	undo()
	for _, tc := range []struct {
		area, tried string
		want        []string
		args        []string
	}{
		{"snapshot", "--page-size 5000 (S3 pages hold 1000)", []string{"--page-size"}, []string{"snapshot", "--source", src.String(), "--out", tmp + "/f1", "--page-size", "5000"}},
		{"snapshot", "--ranges 70000", []string{"--ranges"}, []string{"snapshot", "--source", src.String(), "--out", tmp + "/f2", "--ranges", "70000"}},
		{"snapshot", "--file-size 0", []string{"--file-size"}, []string{"snapshot", "--source", src.String(), "--out", tmp + "/f3", "--file-size", "0"}},
		{"snapshot", "--shard 3/2", []string{"--shard"}, []string{"snapshot", "--source", src.String(), "--out", tmp + "/f4", "--shard", "3/2"}},
		{"restore", "--workers 0", []string{"--workers"}, []string{"restore", "--snapshot", snap, "--table", noTable, "--workers", "0"}},
		{"verify", "--segments 0", []string{"--segments"}, []string{"verify", "--snapshot", snap, "--table", noTable, "--segments", "0"}},
		{"forget", "--keep-last -3", []string{"--keep-"}, []string{"forget", "--snapshots", tmp, "--keep-last", "-3"}},
		{"backfill", "--table with a slash", []string{"not a DynamoDB table name"}, []string{"backfill", "--table", "a/b", "--dest", "s3://" + src.Bucket + "/x"}},
		{"backfill", "--read-rate NaN (passes a 'not negative' check)", []string{"finite"}, []string{"backfill", "--table", noTable, "--dest", "s3://" + src.Bucket + "/x", "--read-rate", "NaN"}},
		{"restore", "--max-wcu Inf", []string{"finite"}, []string{"restore", "--snapshot", snap, "--table", noTable, "--max-wcu", "Inf"}},
		{"snapshot", "--concurrency 100000000 (a typo: a goroutine and buffer each)", []string{"at most"}, []string{"snapshot", "--source", src.String(), "--out", tmp + "/f5", "--concurrency", "100000000"}},
		{"verify", "--readers 50000", []string{"at most"}, []string{"verify", "--snapshot", snap, "--table", noTable, "--readers", "50000"}},
	} {
		hostileCase(t, flags, tc.area, tc.tried, "usage error, exit 2, before any request", 2, tc.want, tc.args...)
	}
	_ = ctx
}
