package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/restore"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

type env struct {
	t      *testing.T
	c      *awsconf.Clients
	ddb    *dynamodb.Client
	src    layout.Location
	prefix string // scratch tables of this test only
}

func orderItem(i int, total string) item.Item {
	it, _ := item.Unmarshal([]byte(fmt.Sprintf(`{"pk":{"S":"order#%d"},"total":{"N":"%s"}}`, i, total)))
	return it
}

// newEnv writes n items into a fresh backup through the stream writer's own
// code path.
func newEnv(t *testing.T, n int) *env {
	c := testenv.Clients(t)
	w := backup.New(c.S3(), testenv.Bucket(t, c, true), "backups", "orders")
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			it := orderItem(i, fmt.Sprintf("%d.50", i))
			_, err := w.Put(ctx, item.Item{"pk": it["pk"]}, it, backup.Meta{}, backup.PutOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c, ddb: c.DynamoDB(), src: w.Location(), prefix: testenv.Name("drilltest")}
	t.Cleanup(func() {
		// A failing test must not leave tables either; the assertions
		// below check that the drill itself removed them.
		for _, name := range e.leftovers() {
			DeleteTable(context.Background(), e.ddb, name, false)
		}
	})
	return e
}

// snapshotAt takes a snapshot into dir, a local folder.
func (e *env) snapshotAt(dir string, at time.Time) *snapshot.Snapshot {
	e.t.Helper()
	ctx := context.Background()
	st := store.NewLocal(dir)
	if _, err := snapshot.Run(ctx, s3source.New(e.c.S3(), e.src.Bucket), st, snapshot.Options{Source: e.src, At: at}); err != nil {
		e.t.Fatal(err)
	}
	s, err := snapshot.Open(ctx, st)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// leftovers lists the tables of the test's prefix.
func (e *env) leftovers() []string {
	e.t.Helper()
	names, err := ScratchTables(context.Background(), e.ddb, e.prefix)
	if err != nil {
		e.t.Fatal(err)
	}
	return names
}

func (e *env) options() Options {
	return Options{DynamoDB: e.ddb, TablePrefix: e.prefix, Workers: 8}
}

func (e *env) checkNoTableLeft(rep *Report) {
	e.t.Helper()
	if left := e.leftovers(); len(left) > 0 {
		e.t.Errorf("scratch tables left behind: %v", left)
	}
	if rep.Table.Name != "" && !rep.Table.Deleted {
		e.t.Errorf("report says scratch table %s was not deleted", rep.Table.Name)
	}
}

// TestDrillPasses: a healthy drill passes, its figures add up, and no
// scratch table is left.
func TestDrillPasses(t *testing.T) {
	e := newEnv(t, 120)
	time.Sleep(1100 * time.Millisecond) // the snapshot time lies after the newest version's second
	s := e.snapshotAt(t.TempDir(), time.Now())
	opts := e.options()
	opts.MaxRPO, opts.MaxRTO = time.Hour, 10*time.Minute
	rep, err := Run(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed || rep.Differs || rep.OverBudget || len(rep.Failures) > 0 {
		t.Fatalf("want a pass, got %+v", rep)
	}
	if !strings.HasPrefix(rep.Table.Name, e.prefix+"-") || !rep.Table.Created || rep.Table.KeySchema != "pk:S" {
		t.Errorf("scratch table: %+v", rep.Table)
	}
	rt, rp := rep.RecoveryTime, rep.RecoveryPoint
	if rt == nil || rt.ItemsRestored != 120 || rt.ItemsPerSecond <= 0 || rt.Seconds < rt.Restore.Seconds || rt.Exceeded {
		t.Errorf("recovery time: %+v", rt)
	}
	if rep.NewestVersion == nil || rp.DataLag == nil {
		t.Fatalf("no newest version: %+v", rep)
	}
	// The last put was at least 1.1s before the snapshot time; LastModified
	// has whole seconds.
	if rp.DataLag.Seconds < 0.1 || rp.DataLag.Seconds > 30 {
		t.Errorf("data lag %v", rp.DataLag)
	}
	if d := rp.Seconds - rp.DataLag.Seconds - rp.SnapshotAge.Seconds; d > 0.001 || d < -0.001 || rp.Exceeded {
		t.Errorf("recovery point %v is not data lag + snapshot age (%v + %v)", rp.Seconds, rp.DataLag.Seconds, rp.SnapshotAge.Seconds)
	}
	if rep.Verify == nil || !rep.Verify.Equal() || rep.Verify.TableItems != 120 || rep.VerifyTime == nil {
		t.Errorf("verify: %+v", rep.Verify)
	}
	e.checkNoTableLeft(rep)
}

// TestDrillTampered: an item changed in the scratch table between the
// restore and the verify fails the drill, naming the item; the table goes.
func TestDrillTampered(t *testing.T) {
	e := newEnv(t, 50)
	s := e.snapshotAt(t.TempDir(), time.Now())
	opts := e.options()
	opts.AfterRestore = func(ctx context.Context, table string) error {
		_, err := e.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: orderItem(7, "999")})
		return err
	}
	rep, err := Run(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed || !rep.Differs || rep.Verify.Different != 1 || len(rep.Failures) != 1 {
		t.Fatalf("want one difference, got %+v", rep)
	}
	if f := rep.Failures[0]; !strings.Contains(f, "differs from the snapshot") || !strings.Contains(f, `different: {"pk":{"S":"order#7"}}`) {
		t.Errorf("failure does not name the tampered item: %s", f)
	}
	e.checkNoTableLeft(rep)
}

// TestDrillOverRPO: a recovery point budget below the measured one fails
// the drill with a message naming both; the table goes.
func TestDrillOverRPO(t *testing.T) {
	e := newEnv(t, 20)
	s := e.snapshotAt(t.TempDir(), time.Now())
	opts := e.options()
	opts.MaxRPO = time.Millisecond
	rep, err := Run(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed || !rep.OverBudget || rep.Differs || !rep.RecoveryPoint.Exceeded || len(rep.Failures) != 1 {
		t.Fatalf("want over budget, got %+v", rep)
	}
	if f := rep.Failures[0]; !strings.Contains(f, "recovery point") || !strings.Contains(f, "budget of 1ms (--max-rpo)") {
		t.Errorf("failure: %s", f)
	}
	// The rest of the drill still ran: a budget is a verdict, not a stop.
	if rep.Verify == nil || !rep.Verify.Equal() {
		t.Errorf("verify did not run: %+v", rep.Verify)
	}
	e.checkNoTableLeft(rep)
}

// TestDrillInterrupted: a drill cancelled right after creating the table,
// or in the middle of the restore, still deletes the table.
func TestDrillInterrupted(t *testing.T) {
	e := newEnv(t, 400)
	s := e.snapshotAt(t.TempDir(), time.Now())
	// Cancelled requests go through the shield: dynalite dies of a client
	// that hangs up mid-request.
	shielded, err := awsconf.Load(context.Background(), awsconf.Options{EndpointURL: testenv.ShieldedDynamoDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	options := func() Options {
		o := e.options()
		o.DynamoDB = shielded.DynamoDB()
		return o
	}

	t.Run("after create", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		opts := options()
		opts.AfterCreate = func(context.Context, string) error { cancel(); return nil }
		rep, err := Run(ctx, s, opts)
		if !errors.Is(err, context.Canceled) || rep.Passed {
			t.Fatalf("want context.Canceled, got %v %+v", err, rep)
		}
		e.checkNoTableLeft(rep)
	})

	t.Run("during restore", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		opts := options()
		// 400 one-WCU items at 100 WCU/s take about 3s: long enough to
		// be cut in the middle.
		opts.MaxWCU = 100
		opts.Written = &progress.Counter{}
		go func() {
			for opts.Written.Load() == 0 && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
		}()
		rep, err := Run(ctx, s, opts)
		if !errors.Is(err, context.Canceled) || rep.RecoveryTime != nil {
			t.Fatalf("want the restore cut short, got %v %+v", err, rep)
		}
		if n := opts.Written.Load(); n == 0 || n >= 400 {
			t.Errorf("%d items written: the cancel did not land during the restore", n)
		}
		e.checkNoTableLeft(rep)
	})
}

// TestFindNewest: the newest finished snapshot wins whatever its folder's
// name or depth; a half-written one (no manifest-summary.json) is never
// chosen and is reported.
func TestFindNewest(t *testing.T) {
	e := newEnv(t, 10)
	root := t.TempDir()
	t0 := time.Now()
	e.snapshotAt(filepath.Join(root, "z-older"), t0.Add(-time.Second))
	e.snapshotAt(filepath.Join(root, "deep", "er", "oldest"), t0.Add(-2*time.Second))
	newest := e.snapshotAt(filepath.Join(root, "a-newest"), t0)
	// A run that crashed, or is still going, after the newest one: its
	// data is there, its summary is not.
	half := filepath.Join(root, "zz-half")
	e.snapshotAt(half, time.Now())
	if err := os.Remove(filepath.Join(half, snapshot.SummaryName)); err != nil {
		t.Fatal(err)
	}

	f, err := FindNewest(context.Background(), store.NewLocal(root), func(url string) (store.Store, error) {
		return store.NewLocal(url), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Snapshot.Store.URL(""); got != newest.Store.URL("") {
		t.Errorf("chose %s, want %s", got, newest.Store.URL(""))
	}
	if f.Finished != 3 || len(f.Unfinished) != 1 || f.Unfinished[0] != half {
		t.Errorf("finished %d, unfinished %v", f.Finished, f.Unfinished)
	}

	empty := t.TempDir()
	os.MkdirAll(filepath.Join(empty, "crashed", snapshot.DataDir), 0o755)
	os.WriteFile(filepath.Join(empty, "crashed", snapshot.DataDir, "part-00000.json.gz"), nil, 0o644)
	if _, err := FindNewest(context.Background(), store.NewLocal(empty), nil); err == nil || !strings.Contains(err.Error(), "no finished snapshot") {
		t.Errorf("a folder with only a crashed run: %v", err)
	}
}

func TestSnapshotDir(t *testing.T) {
	for name, want := range map[string]string{
		"a/manifest-summary.json":            "a",
		"manifest-files.json":                "",
		"a/b/data/part-00000.json.gz":        "a/b",
		"data/s1/data/part-00000.json.gz":    "data/s1",
		"s/sidecar/part-00001.json.gz":       "s",
		"s/shards/shard-00000-of-00002.json": "s",
	} {
		if got, ok := snapshotDir(name); !ok || got != want {
			t.Errorf("%s: got %q %v, want %q", name, got, ok, want)
		}
	}
	if _, ok := snapshotDir("notes/readme.txt"); ok {
		t.Errorf("a stray file counted as a snapshot's")
	}
}

// TestDrillReportsOtherScratchTables: a table of the drill's prefix that
// was there before (a killed drill's) is reported and left alone: another
// drill may be using it.
func TestDrillReportsOtherScratchTables(t *testing.T) {
	e := newEnv(t, 5)
	s := e.snapshotAt(t.TempDir(), time.Now())
	stale := e.prefix + "-20200101T000000-abcdef"
	ks, err := restore.InferKeySchema(context.Background(), s, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := restore.CreateTable(context.Background(), e.ddb, stale, ks); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), s, e.options())
	if err != nil || !rep.Passed {
		t.Fatalf("%v %+v", err, rep)
	}
	if len(rep.OtherScratchTables) != 1 || rep.OtherScratchTables[0] != stale {
		t.Errorf("other scratch tables: %v", rep.OtherScratchTables)
	}
	if left := e.leftovers(); len(left) != 1 || left[0] != stale {
		t.Errorf("want only %s left, got %v", stale, left)
	}
}

// TestDrillKeepTable: --keep-table leaves the scratch table and says so.
func TestDrillKeepTable(t *testing.T) {
	e := newEnv(t, 5)
	s := e.snapshotAt(t.TempDir(), time.Now())
	opts := e.options()
	opts.KeepTable = true
	var log strings.Builder
	opts.Log = LineLogger(&log)
	rep, err := Run(context.Background(), s, opts)
	if err != nil || !rep.Passed || !rep.Table.Kept || rep.Table.Deleted {
		t.Fatalf("%v %+v", err, rep)
	}
	if left := e.leftovers(); len(left) != 1 || left[0] != rep.Table.Name {
		t.Errorf("want %s kept, got %v", rep.Table.Name, left)
	}
	if !strings.Contains(log.String(), "scratch table "+rep.Table.Name+" kept") {
		t.Errorf("log: %s", log.String())
	}
}
