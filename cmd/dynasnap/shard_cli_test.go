package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// N shard processes run concurrently, then commit: the same items as one
// process at the same time. A missing shard makes commit fail, writing
// nothing.
func TestShardedSnapshotEqualsSingle(t *testing.T) {
	src := seed(t, 600)
	at := time.Now().Add(time.Second).UTC().Format(time.RFC3339)
	time.Sleep(1500 * time.Millisecond)
	root := t.TempDir()
	single := filepath.Join(root, "single")
	if _, stderr, code := run(t, "snapshot", "--source", src.String(), "--at", at, "--out", single, "--quiet"); code != 0 {
		t.Fatal(stderr)
	}
	sharded := filepath.Join(root, "sharded")
	const n = 3
	var cmds []*exec.Cmd
	for i := 0; i < n; i++ {
		cmd := exec.Command(binary(t), "snapshot", "--source", src.String(), "--at", at, "--out", sharded, "--shard", "auto/3", "--quiet")
		cmd.Env = append(os.Environ(), "JOB_COMPLETION_INDEX="+string(rune('0'+i)))
		var errb strings.Builder
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(errb.String())
			}
		})
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("shard: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(sharded, "manifest-summary.json")); !os.IsNotExist(err) {
		t.Fatal("shards wrote a summary before commit")
	}
	if _, stderr, code := run(t, "snapshot", "commit", "--out", sharded); code != 0 {
		t.Fatalf("commit: %s", stderr)
	}
	want, got := readLines(t, single), readLines(t, sharded)
	if len(want) != 600 || strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Fatalf("sharded snapshot differs: %d items vs %d", len(got), len(want))
	}

	// Two of three shards only: commit refuses and writes nothing.
	partial := filepath.Join(root, "partial")
	for _, i := range []string{"0/3", "2/3"} {
		if _, stderr, code := run(t, "snapshot", "--source", src.String(), "--at", at, "--out", partial, "--shard", i, "--quiet"); code != 0 {
			t.Fatal(stderr)
		}
	}
	_, stderr, code := run(t, "snapshot", "commit", "--out", partial)
	if code == 0 || !strings.Contains(stderr, "missing: [1]") {
		t.Fatalf("commit with a missing shard: exit %d, %s", code, stderr)
	}
	for _, f := range []string{"manifest-summary.json", "manifest-files.json"} {
		if _, err := os.Stat(filepath.Join(partial, f)); !os.IsNotExist(err) {
			t.Errorf("failed commit wrote %s", f)
		}
	}
	// A relative --at would differ between shard processes: refused.
	if _, stderr, code := run(t, "snapshot", "--source", src.String(), "--at", "-1m", "--out", partial, "--shard", "1/3"); code != 2 || !strings.Contains(stderr, "absolute --at") {
		t.Errorf("relative --at with --shard: exit %d, %s", code, stderr)
	}
}

// readLines returns a snapshot's data lines, file by file in name order.
func readLines(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "data", "*.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		b, err := exec.Command("sh", "-c", "zcat "+f).Output()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Split(strings.TrimSpace(string(b)), "\n")...)
	}
	return out
}
