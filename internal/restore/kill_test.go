package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// TestKillChild is the restore that TestKill9Resume kills; it runs only as
// that test's child process.
func TestKillChild(t *testing.T) {
	dir, table, cpPath := os.Getenv("KILL_SNAPSHOT"), os.Getenv("KILL_TABLE"), os.Getenv("KILL_CHECKPOINT")
	if dir == "" {
		t.Skip("child of TestKill9Resume only")
	}
	ctx := context.Background()
	s, err := snapshot.Open(ctx, store.NewLocal(dir))
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := OpenCheckpoint(cpPath, dir, s.Summary.ExportTime, table)
	if err != nil {
		t.Fatal(err)
	}
	// Slow enough to be killed in the middle: a few seconds in all.
	w := &Writer{Client: testenv.DynamoDB(t), Table: table, Workers: 4, MaxWCU: 1500}
	if _, err := FromSnapshot(ctx, s, w, SnapshotOptions{Readers: 2, Checkpoint: cp}); err != nil {
		t.Fatal(err)
	}
}

// TestKill9Resume: kill -9 in the middle of a restore, rerun, and the table
// ends equal to the snapshot; the rerun skips the files already finished.
func TestKill9Resume(t *testing.T) {
	ctx := context.Background()
	ddb := testenv.DynamoDB(t)
	files := make([][]item.Item, 16)
	for i := range 8000 {
		files[i%16] = append(files[i%16], numItem(i, fmt.Sprint("v", i)))
	}
	dir := filepath.Join(t.TempDir(), "snap")
	s := writeSnapshot(t, dir, pkSchema, files)
	table := newTable(t, ddb, pkSchema)
	cpPath := filepath.Join(t.TempDir(), "checkpoint.json")

	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KILL_SNAPSHOT="+dir, "KILL_TABLE="+table, "KILL_CHECKPOINT="+cpPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	finished := func() int {
		var st struct{ FinishedDataFiles []string }
		b, err := os.ReadFile(cpPath)
		if err != nil || json.Unmarshal(b, &st) != nil {
			return 0
		}
		return len(st.FinishedDataFiles)
	}
	deadline := time.Now().Add(60 * time.Second)
	for finished() < 3 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("child finished no data file in 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup runs
		t.Fatal(err)
	}
	cmd.Wait()
	done := finished()
	if done >= 16 {
		t.Fatalf("the child finished before it was killed; slow it down")
	}
	if r := mustVerify(t, ctx, s, ddb, table, pkSchema); r.Equal() || r.TableItems == 0 {
		t.Fatalf("after the kill the table should be partly restored: %+v", r)
	}

	cp, resumed, err := OpenCheckpoint(cpPath, dir, s.Summary.ExportTime, table)
	if err != nil || !resumed {
		t.Fatalf("checkpoint not resumed: %v", err)
	}
	w := &Writer{Client: ddb, Table: table, Workers: 8}
	res, err := FromSnapshot(ctx, s, w, SnapshotOptions{Checkpoint: cp})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed after %d of 16 files; rerun skipped %d files (%d items), wrote %d", done, res.SkippedFiles, res.SkippedItems, res.Puts)
	if res.SkippedFiles < done || res.SkippedItems+res.Puts != 8000 {
		t.Fatalf("rerun: %+v", res)
	}
	if r := mustVerify(t, ctx, s, ddb, table, pkSchema); !r.Equal() || r.TableItems != 8000 {
		t.Fatalf("after the rerun: %+v", r)
	}
	// A checkpoint of another restore is refused, not reused.
	if _, _, err := OpenCheckpoint(cpPath, dir, s.Summary.ExportTime, "other-table"); err == nil {
		t.Fatal("checkpoint of another table accepted")
	}
}
