package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/audit"
	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/testsupport/schematest"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// auditChange is one change the test makes: a put of body, or a delete.
type auditChange struct {
	key  string
	body string // the item's DynamoDB JSON; "" deletes
	// backup, if set, is what the backup stores instead of body: the
	// same item in other bytes.
	backup string
}

// auditMirror is a table and its backup, written the way the stream
// writer writes it (table first, backup after), in either layout; a
// change can be kept from the backup to break it.
type auditMirror struct {
	t       *testing.T
	ddb     *dynamodb.Client
	s3      *awsconf.Clients
	table   string
	src     layout.Location
	journal *journal.S3Bucket // nil: the per-item layout
	seq     atomic.Int64
	mu      sync.Mutex // one writer of the backup at a time (the journal's segments)
}

func newAuditMirror(t *testing.T, layoutName string) *auditMirror {
	c := testenv.Clients(t)
	m := &auditMirror{t: t, ddb: c.DynamoDB(), s3: c, table: relTable(t, c.DynamoDB())}
	bucket := testenv.Bucket(t, c, true)
	m.src = layout.TableLocation(bucket, "backups", m.table)
	m.seq.Store(1000)
	if layoutName == "journal" {
		m.journal = &journal.S3Bucket{Client: c.S3(), Bucket: bucket}
		if err := journal.EnsureDescriptor(context.Background(), m.journal, m.src.Dir(), journalTestLag, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func (m *auditMirror) id(key string) string {
	k, _ := item.Unmarshal([]byte(fmt.Sprintf(`{"pk":{"S":%q}}`, key)))
	id, err := item.KeyID(k, "pk")
	if err != nil {
		m.t.Fatal(err)
	}
	return id
}

// table writes changes to the table only.
func (m *auditMirror) writeTable(ctx context.Context, cs []auditChange) error {
	for _, c := range cs {
		if c.body == "" {
			k, _ := item.Unmarshal([]byte(fmt.Sprintf(`{"pk":{"S":%q}}`, c.key)))
			if _, err := m.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(m.table), Key: k}); err != nil {
				return err
			}
			continue
		}
		it, err := item.Unmarshal([]byte(c.body))
		if err != nil {
			return err
		}
		if _, err := m.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(m.table), Item: it}); err != nil {
			return err
		}
	}
	return nil
}

// writeBackup stores changes as the writer would: a version or delete
// marker each, or one journal segment for them all. It returns the
// segment's key (journal) or the versions written.
func (m *auditMirror) writeBackup(ctx context.Context, cs []auditChange) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.journal != nil {
		now := time.Now()
		recs := make([]journal.Record, len(cs))
		for i, c := range cs {
			recs[i] = journal.Record{ID: m.id(c.key), TimeMs: now.UnixMilli(), Seq: fmt.Sprint(m.seq.Add(1)), Stream: testStream,
				Keys: []byte(fmt.Sprintf(`{"pk":{"S":%q}}`, c.key)), Event: journal.EventModify}
			if c.body == "" {
				recs[i].Event = journal.EventRemove
			} else {
				it, _ := item.Unmarshal([]byte(cmpOr(c.backup, c.body)))
				recs[i].NewImage, _ = item.Marshal(it)
			}
		}
		seg, err := journal.WriteSegment(ctx, m.journal, m.src.Dir(), recs, now)
		return []string{seg}, err
	}
	var versions []string
	cl := m.s3.S3()
	for _, c := range cs {
		key := m.src.ObjectKey(m.id(c.key))
		if c.body == "" {
			if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(m.src.Bucket), Key: aws.String(key)}); err != nil {
				return nil, err
			}
			continue
		}
		it, _ := item.Unmarshal([]byte(cmpOr(c.backup, c.body)))
		body, _ := item.Marshal(it)
		out, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(m.src.Bucket), Key: aws.String(key),
			Body: strings.NewReader(string(body)), ContentType: aws.String("application/json")})
		if err != nil {
			return nil, err
		}
		versions = append(versions, aws.ToString(out.VersionId))
	}
	return versions, nil
}

// apply writes changes to the table, then (healthy) to the backup.
func (m *auditMirror) apply(ctx context.Context, cs []auditChange, backup bool) []string {
	m.t.Helper()
	if err := m.writeTable(ctx, cs); err != nil {
		m.t.Fatal(err)
	}
	if !backup {
		return nil
	}
	out, err := m.writeBackup(ctx, cs)
	if err != nil {
		m.t.Fatal(err)
	}
	return out
}

// dropNewest removes the newest backup version of key: the versioned
// layout's version itself, or the journal segment holding it (written by
// apply for that change alone).
func (m *auditMirror) dropNewest(ctx context.Context, key string, written []string) {
	m.t.Helper()
	var err error
	if m.journal != nil {
		err = m.journal.Delete(ctx, written[0])
	} else {
		_, err = m.s3.S3().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(m.src.Bucket),
			Key: aws.String(m.src.ObjectKey(m.id(key))), VersionId: aws.String(written[0])})
	}
	if err != nil {
		m.t.Fatal(err)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func auditBody(key string, v int) string {
	return fmt.Sprintf(`{"pk":{"S":%q},"n":{"N":"%d"},"tags":{"SS":["x","y"]},"pad":{"S":"%s"}}`, key, v, strings.Repeat("p", 200))
}

// steadyWriter changes keys s000..s099 until stopped, each change to the
// table and then the backup, a batch every 50ms (as a stream writer's
// batches), and counts the changes.
func (m *auditMirror) steadyWriter(ctx context.Context, wg *sync.WaitGroup, changes *atomic.Int64) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for v := 0; ctx.Err() == nil; v++ {
			var cs []auditChange
			for range 5 {
				k := fmt.Sprintf("s%03d", rng.IntN(100))
				c := auditChange{key: k, body: auditBody(k, v)}
				if rng.IntN(5) == 0 {
					c.body = ""
				}
				cs = append(cs, c)
			}
			// Not ctx: a change half written (table, not backup) would be
			// drift the test made itself.
			if err := m.writeTable(context.Background(), cs); err != nil {
				m.t.Error(err)
				return
			}
			if _, err := m.writeBackup(context.Background(), cs); err != nil {
				m.t.Error(err)
				return
			}
			changes.Add(int64(len(cs)))
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

type auditJSON struct {
	ItemsScanned int64   `json:"itemsScanned"`
	Seconds      float64 `json:"seconds"`
	ReadUnits    float64 `json:"consumedReadUnits"`
	Missing      int64   `json:"missing"`
	Different    int64   `json:"different"`
	Extra        int64   `json:"extra"`
	Drift        []struct {
		Key              map[string]map[string]string `json:"key"`
		Kind             string                       `json:"kind"`
		NewestBackupTime *time.Time                   `json:"newestBackupTime"`
	} `json:"drift"`
}

// TestAuditFindsEveryBrokenKey breaks a backup in each way that happens in
// practice (a batch never written, a key's newest version deleted, the
// writer stopped while the table is written) on both layouts, and audit
// finds every broken key, with its kind, and nothing else, while a steady
// writer changes the table during the scan; the same writes with a healthy
// backup give no drift.
func TestAuditFindsEveryBrokenKey(t *testing.T) {
	for _, lay := range []string{"per-item", "journal"} {
		for _, broken := range []bool{true, false} {
			name := lay + "/healthy"
			if broken {
				name = lay + "/broken"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				auditScenario(t, lay, broken)
			})
		}
	}
}

func auditScenario(t *testing.T, lay string, broken bool) {
	ctx := context.Background()
	m := newAuditMirror(t, lay)
	// The table's steady items and 300 more, all backed up.
	var seedCs []auditChange
	for i := range 300 {
		k := fmt.Sprintf("k%03d", i)
		seedCs = append(seedCs, auditChange{key: k, body: auditBody(k, 0)})
	}
	for i := range 100 {
		k := fmt.Sprintf("s%03d", i)
		seedCs = append(seedCs, auditChange{key: k, body: auditBody(k, 0)})
	}
	for lo := 0; lo < len(seedCs); lo += 100 {
		m.apply(ctx, seedCs[lo:lo+100], true)
	}
	want := map[string]string{} // key -> kind
	// The same item in other bytes (set order, a number's form): no ETag
	// matches, and it is no drift.
	m.apply(ctx, []auditChange{{key: "k040", body: `{"pk":{"S":"k040"},"n":{"N":"7.5"},"tags":{"SS":["x","y"]}}`,
		backup: `{"pk":{"S":"k040"},"n":{"N":"7.50"},"tags":{"SS":["y","x"]}}`}}, true)
	// 1. A batch never written: an insert, a change and a delete.
	m.apply(ctx, []auditChange{{key: "b-new", body: auditBody("b-new", 1)}, {key: "k001", body: auditBody("k001", 1)}, {key: "k002"}}, !broken)
	want["b-new"], want["k001"], want["k002"] = audit.Missing, audit.Different, audit.Extra
	// 2. A key's newest version deleted from the backup: a changed key
	// goes back to its old image, a new one has none.
	for _, c := range []auditChange{{key: "k010", body: auditBody("k010", 2)}, {key: "v-new", body: auditBody("v-new", 2)}} {
		written := m.apply(ctx, []auditChange{c}, true)
		if broken {
			m.dropNewest(ctx, c.key, written)
		}
	}
	want["k010"], want["v-new"] = audit.Different, audit.Missing
	// 3. The writer stopped while the table is written, then started again.
	m.apply(ctx, []auditChange{{key: "w-new", body: auditBody("w-new", 3)}, {key: "k020", body: auditBody("k020", 3)}, {key: "k021"}, {key: "k022", body: auditBody("k022", 3)}}, !broken)
	m.apply(ctx, []auditChange{{key: "k030", body: auditBody("k030", 4)}}, true) // after the restart
	want["w-new"], want["k020"], want["k021"], want["k022"] = audit.Missing, audit.Different, audit.Extra, audit.Different

	// The steady writer runs before, during and after the audit.
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var changes atomic.Int64
	m.steadyWriter(wctx, &wg, &changes)
	time.Sleep(1500 * time.Millisecond)
	before := changes.Load()
	// A read-unit cap spreads the scan over a few seconds of writes.
	stdout, stderr, code := cli("audit", "--source", m.src.String(), "--table", m.table, "--segments", "4", "--writer-lag", "2s", "--read-units", "5", "--json")
	during := changes.Load() - before
	// A sample (half the segments) finds a share of the same drift, and
	// nothing else.
	// It also leaves its result where dynasnap status reads it.
	resultFile := filepath.Join(t.TempDir(), "audit.json")
	sout, serr, scode := cli("audit", "--source", m.src.String(), "--table", m.table, "--segments", "4", "--sample", "50", "--writer-lag", "2s", "--json", "--report-out", resultFile)
	time.Sleep(300 * time.Millisecond)
	stop()
	wg.Wait()
	var sr auditJSON
	if err := json.Unmarshal([]byte(sout), &sr); err != nil {
		t.Fatalf("audit --sample 50 --json: exit %d: %v: %s\n%s", scode, err, sout, serr)
	}
	for _, d := range sr.Drift {
		if k := d.Key["pk"]["S"]; !broken || want[k] != d.Kind {
			t.Errorf("audit --sample 50: %s %s is no drift the test made", k, d.Kind)
		}
	}
	checkAuditResult(t, resultFile, scode)
	if (scode == 3) != (len(sr.Drift) > 0) || sr.ItemsScanned == 0 || sr.ItemsScanned > 350 {
		t.Errorf("audit --sample 50: exit %d with %d drifted, %d items scanned of ~400: %s", scode, len(sr.Drift), sr.ItemsScanned, serr)
	}
	if during == 0 {
		t.Fatalf("the steady writer made no change during the audit")
	}
	var r auditJSON
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("audit --json: exit %d: %v: %s\n%s", code, err, stdout, stderr)
	}
	if r.ReadUnits <= 0 {
		t.Errorf("consumedReadUnits %g: the Scan's consumed capacity was not counted", r.ReadUnits)
	}
	got := map[string]string{}
	for _, d := range r.Drift {
		got[d.Key["pk"]["S"]] = d.Kind
		if d.Kind != audit.Missing && d.NewestBackupTime == nil {
			t.Errorf("%s: %s drift without the newest backup time", d.Key["pk"]["S"], d.Kind)
		}
	}
	if !broken {
		want = map[string]string{}
	}
	if d := compareStates(want, got); d != "" {
		t.Fatalf("audit (%d items scanned, %d steady changes during it) found %v, want %v: %s\n%s", r.ItemsScanned, during, got, want, d, stderr)
	}
	wantCode, line := 0, "dynasnap audit: OK table="+m.table
	if broken {
		wantCode, line = 3, fmt.Sprintf("dynasnap audit: DRIFT table=%s source=%s missing=3 different=4 extra=2", m.table, m.src)
	}
	if code != wantCode || !strings.Contains(stderr, line) {
		t.Fatalf("exit %d, want %d; stderr should hold %q:\n%s", code, wantCode, line, stderr)
	}
	t.Logf("%s: %d items scanned in %.1fs (%.1f read units), %d steady changes during the audit; the sample found %d of the drift in %d items",
		lay, r.ItemsScanned, r.Seconds, r.ReadUnits, during, len(sr.Drift), sr.ItemsScanned)
}

// Bad flags are usage errors (exit 2), before any request.
func TestAuditFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--table", "t"},
		{"--source", "s3://b/p/t"},
		{"--source", "s3://b", "--table", "t"},
		{"--source", "s3://b/p/t", "--table", "t", "--sample", "0"},
		{"--source", "s3://b/p/t", "--table", "t", "--sample", "101"},
		{"--source", "s3://b/p/t", "--table", "t", "--segments", "0"},
		{"--source", "s3://b/p/t", "--table", "t", "--read-units", "-1"},
		{"--source", "s3://b/p/t", "--table", "t", "--shard", "0/2"},
		{"--source", "s3://b/p/t", "--table", "bad name!"},
	} {
		if _, e, code := cli(append([]string{"audit"}, args...)...); code != 2 {
			t.Errorf("audit %v: exit %d, want 2: %s", args, code, e)
		}
	}
}

// checkAuditResult: --report-out wrote a job result (the schema status
// reads) that passed exactly when the audit exited 0.
func checkAuditResult(t *testing.T, file string, code int) {
	t.Helper()
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("audit --report-out: %v", err)
	}
	var res struct {
		Passed       bool
		Failures     []string
		StartTime    time.Time
		ItemsScanned int64
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("audit --report-out: %v: %s", err, body)
	}
	if res.Passed != (code == 0) || res.Passed != (len(res.Failures) == 0) || res.StartTime.IsZero() || res.ItemsScanned == 0 {
		t.Errorf("audit --report-out after exit %d: %s", code, body)
	}
	var v any
	_ = json.Unmarshal(body, &v)
	schematest.Check(t, schematest.Compiler(t), "job-result", v)
}
