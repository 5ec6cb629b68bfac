package restore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/keyschema"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
	"github.com/dynasnap/dynasnap/internal/verify"
)

// backup is a table's folder in a fresh versioned bucket, written the way
// the stream writer writes it.
type backup struct {
	t   testing.TB
	c   *awsconf.Clients
	s3  *s3.Client
	src layout.Location
	ks  keyschema.Schema
}

func newBackup(t testing.TB, ks keyschema.Schema) *backup {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, true)
	return &backup{t: t, c: c, s3: c.S3(), src: layout.TableLocation(bucket, "backups", testenv.Name("tbl")), ks: ks}
}

func (b *backup) put(ctx context.Context, it item.Item) {
	id, err := b.ks.KeyID(it)
	if err != nil {
		b.t.Error(err)
		return
	}
	body, err := item.Marshal(it)
	if err != nil {
		b.t.Error(err)
		return
	}
	_, err = b.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.src.Bucket), Key: aws.String(b.src.ObjectKey(id)),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json")})
	if err != nil {
		b.t.Error(err)
		return
	}
}

func (b *backup) del(ctx context.Context, it item.Item) {
	id, err := b.ks.KeyID(it)
	if err != nil {
		b.t.Error(err)
		return
	}
	if _, err := b.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.src.Bucket), Key: aws.String(b.src.ObjectKey(id))}); err != nil {
		b.t.Error(err)
		return
	}
}

// each runs fn for 0..n-1 from 16 goroutines: PutObject takes ~100 ms on
// the shared test machine, so one at a time is far too slow.
func each(n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// snapshotAt takes a real snapshot of the backup into a local folder.
func (b *backup) snapshotAt(ctx context.Context, at time.Time) *snapshot.Snapshot {
	b.t.Helper()
	dir := filepath.Join(b.t.TempDir(), "snap")
	st := store.NewLocal(dir)
	if _, err := snapshot.Run(ctx, s3source.New(b.s3, b.src.Bucket), st, snapshot.Options{Source: b.src, At: at, Concurrency: 32}); err != nil {
		b.t.Fatal(err)
	}
	s, err := snapshot.Open(ctx, st)
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// nextSecond sleeps into the next whole second, so that later writes get a
// LastModified after everything written so far (whole-second precision).
func nextSecond() time.Time {
	now := time.Now()
	t := now.Truncate(time.Second)
	time.Sleep(t.Add(time.Second + 50*time.Millisecond).Sub(now))
	return t
}

func newTable(t testing.TB, ddb *dynamodb.Client, ks keyschema.Schema) string {
	t.Helper()
	name := testenv.Name("restore")
	if err := CreateTable(context.Background(), ddb, name, ks); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}

func mustVerify(t testing.TB, ctx context.Context, s *snapshot.Snapshot, ddb *dynamodb.Client, table string, ks keyschema.Schema) *verify.Report {
	t.Helper()
	r, err := verify.Run(ctx, s, ddb, verify.Options{Table: table, Schema: ks})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// writeSnapshot writes a snapshot in the export layout directly (data files
// of {"Item":...} lines plus sidecars and manifests), for tests that need
// more items than are quick to put into S3 one object at a time.
func writeSnapshot(t testing.TB, dir string, ks keyschema.Schema, files [][]item.Item) *snapshot.Snapshot {
	t.Helper()
	st := store.NewLocal(dir)
	ctx := context.Background()
	var manifest bytes.Buffer
	var total int64
	for i, items := range files {
		var data, side bytes.Buffer
		dz, sz := gzip.NewWriter(&data), gzip.NewWriter(&side)
		for _, it := range items {
			body, _ := item.Marshal(it)
			fmt.Fprintf(dz, `{"Item":%s}`+"\n", body)
			id, err := ks.KeyID(it)
			if err != nil {
				t.Fatal(err)
			}
			json.NewEncoder(sz).Encode(snapshot.SidecarLine{Key: "backups/t/" + id, VersionID: "v1", LastModified: time.Unix(0, 0).UTC()})
		}
		dz.Close()
		sz.Close()
		dn, sn := fmt.Sprintf("data/part-%05d.json.gz", i), fmt.Sprintf("sidecar/part-%05d.json.gz", i)
		if err := st.Put(ctx, dn, data.Bytes()); err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, sn, side.Bytes()); err != nil {
			t.Fatal(err)
		}
		json.NewEncoder(&manifest).Encode(snapshot.FileEntry{ItemCount: int64(len(items)), DataFileS3Key: dn, SidecarS3Key: sn})
		total += int64(len(items))
	}
	if err := st.Put(ctx, snapshot.FilesName, manifest.Bytes()); err != nil {
		t.Fatal(err)
	}
	sum, _ := json.Marshal(snapshot.Summary{ExportTime: time.Now().UTC().Truncate(time.Second), ItemCount: total, OutputFormat: "DYNAMODB_JSON",
		ExportType: "FULL_EXPORT", Dynasnap: snapshot.Details{FormatVersion: snapshot.FormatVersion, Compression: "gzip", DataFiles: len(files)}})
	if err := st.Put(ctx, snapshot.SummaryName, sum); err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
