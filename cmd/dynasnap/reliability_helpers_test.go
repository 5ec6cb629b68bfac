package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// relModel is the expected state of a table: canonical item JSON by partition
// key value.
type relModel map[string]string

// relSeed writes n items into a fresh versioned bucket under
// backups/<table>, then modifies every 7th and deletes every 11th, so the
// fold has several versions and delete markers to get right. It returns the
// location, the state after all changes, and an --at that covers them.
func relSeed(t *testing.T, c *awsconf.Clients, n int) (layout.Location, relModel, string) {
	t.Helper()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "backups", "orders")
	m := relModel{}
	var mu sync.Mutex
	put := func(i int, body string) {
		it, err := item.Unmarshal([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := item.KeyID(it, "pk")
		b, _ := item.Marshal(it)
		if _, err := c.S3().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket),
			Key: aws.String(src.ObjectKey(id)), Body: bytes.NewReader(b)}); err != nil {
			t.Error(err)
		}
		mu.Lock()
		m[fmt.Sprintf("order#%d", i)] = string(b)
		mu.Unlock()
	}
	del := func(i int) {
		it, _ := item.Unmarshal([]byte(fmt.Sprintf(`{"pk":{"S":"order#%d"}}`, i)))
		id, _ := item.KeyID(it, "pk")
		if _, err := c.S3().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket),
			Key: aws.String(src.ObjectKey(id))}); err != nil {
			t.Error(err)
		}
		mu.Lock()
		delete(m, fmt.Sprintf("order#%d", i))
		mu.Unlock()
	}
	relParallel(n, func(i int) {
		put(i, fmt.Sprintf(`{"pk":{"S":"order#%d"},"total":{"N":"%d.5"},"tags":{"SS":["a","b%d"]}}`, i, i, i))
	})
	relParallel(n, func(i int) {
		switch {
		case i%11 == 0:
			del(i)
		case i%7 == 0:
			put(i, fmt.Sprintf(`{"pk":{"S":"order#%d"},"total":{"N":"%d"},"note":{"S":"modified"}}`, i, i*2))
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	at := time.Now().Add(time.Second).UTC().Format(time.RFC3339)
	time.Sleep(1500 * time.Millisecond)
	return src, m, at
}

// relParallel runs fn(0..n-1) 32 at a time: a versioned PUT on SeaweedFS takes
// about 100 ms.
func relParallel(n int, fn func(i int)) {
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// relSnapshotModel reads a finished snapshot through the public reader (which
// checks every data file's MD5 and item count) into a model.
func relSnapshotModel(t *testing.T, c *awsconf.Clients, dir string) relModel {
	t.Helper()
	st, err := store.Open(c, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := snapshot.Open(ctx, st)
	if err != nil {
		t.Fatalf("open snapshot %s: %v", dir, err)
	}
	m := relModel{}
	err = s.EachItem(ctx, func(l snapshot.Line) error {
		it, err := item.Unmarshal(l.Item)
		if err != nil {
			return err
		}
		b, _ := item.Marshal(it)
		pk := it["pk"].(*ddbtypes.AttributeValueMemberS).Value
		if _, dup := m[pk]; dup {
			return fmt.Errorf("item %s twice", pk)
		}
		m[pk] = string(b)
		return nil
	})
	if err != nil {
		t.Fatalf("read snapshot %s: %v", dir, err)
	}
	return m
}

// relTableModel scans a table (fault-free) into a model.
func relTableModel(t *testing.T, ddb *dynamodb.Client, table string) relModel {
	t.Helper()
	m := relModel{}
	p := dynamodb.NewScanPaginator(ddb, &dynamodb.ScanInput{TableName: aws.String(table)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for _, it := range out.Items {
			b, _ := item.Marshal(it)
			m[it["pk"].(*ddbtypes.AttributeValueMemberS).Value] = string(b)
		}
	}
	return m
}

// relCompare returns how many items of want are missing from or different in
// got, plus items in got that want lacks, and a description of the first few.
func relCompare(want, got relModel) (lost int, detail string) {
	var b strings.Builder
	note := func(format string, a ...any) {
		lost++
		if lost <= 5 {
			fmt.Fprintf(&b, format+"; ", a...)
		}
	}
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			note("%s missing", k)
		case g != v:
			note("%s differs: %s != %s", k, g, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			note("%s extra", k)
		}
	}
	return lost, b.String()
}

// relRun runs the built CLI with extra environment variables (which win
// over the test process's own) and a time limit, so a hang is a failure.
func relRun(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v: did not finish in 3 minutes (hang?)\nstderr: %s", args, e.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// relTable creates an on-demand table keyed by pk (S), dropped at the end.
func relTable(t *testing.T, ddb *dynamodb.Client) string {
	t.Helper()
	table := testenv.Name("rel")
	_, err := ddb.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName: aws.String(table), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	// dynalite answers ResourceNotFound to writes until the table is ACTIVE.
	if err := dynamodb.NewTableExistsWaiter(ddb, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
	}).Wait(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 30*time.Second); err != nil {
		t.Fatalf("table %s never became active: %v", table, err)
	}
	return table
}
