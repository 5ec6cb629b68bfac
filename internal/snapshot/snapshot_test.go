package snapshot_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/dynasnap/dynasnap/internal/history/s3source"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/snapshot"
	"github.com/dynasnap/dynasnap/internal/store"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// put writes body as a new version of the item's object and returns its key.
func put(t *testing.T, cl *s3.Client, src layout.Location, it item.Item, keys ...string) string {
	t.Helper()
	id, err := item.KeyID(it, keys...)
	if err != nil {
		t.Fatal(err)
	}
	body, err := item.Marshal(it)
	if err != nil {
		t.Fatal(err)
	}
	key := src.ObjectKey(id)
	putRaw(t, cl, src.Bucket, key, body)
	return key
}

// putMany writes items concurrently: a versioned PUT on SeaweedFS takes
// ~100 ms, so sequential seeding would dominate the tests.
func putMany(t *testing.T, cl *s3.Client, src layout.Location, items []item.Item, keys ...string) []string {
	t.Helper()
	out := make([]string, len(items))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id, err := item.KeyID(it, keys...)
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := item.Marshal(it)
			out[i] = src.ObjectKey(id)
			if _, err := cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(src.Bucket), Key: aws.String(out[i]), Body: bytes.NewReader(body)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

func putRaw(t *testing.T, cl *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	if _, err := cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func compileSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	files, _ := filepath.Glob("../../schemas/*.schema.json")
	for _, f := range files {
		r, _ := os.Open(f)
		doc, err := jsonschema.UnmarshalJSON(r)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := c.AddResource("https://dynasnap.dev/schemas/"+filepath.Base(f), doc); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]*jsonschema.Schema{}
	for _, name := range []string{"manifest-summary", "manifest-files", "item-line", "sidecar-line", "table-definition", "incremental-line"} {
		s, err := c.Compile("https://dynasnap.dev/schemas/" + name + ".schema.json")
		if err != nil {
			t.Fatal(err)
		}
		out[name] = s
	}
	return out
}

func validate(t *testing.T, s *jsonschema.Schema, what string, data []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := s.Validate(inst); err != nil {
		t.Fatalf("%s does not match its schema: %v\n%s", what, err, data)
	}
}

// Every file of a snapshot matches the JSON Schemas under schemas/, and
// every attribute type survives the trip byte for byte.
func TestOutputMatchesSchemasAndKeepsTypes(t *testing.T) {
	c := testenv.Clients(t)
	cl := c.S3()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "bk", "types")
	want := map[string]string{}
	for _, it := range testenv.Items(t) {
		var keyName string
		for _, k := range []string{"pk", "id"} {
			if _, ok := it[k]; ok {
				keyName = k
			}
		}
		key := put(t, cl, src, it, keyName)
		b, _ := item.Marshal(it)
		want[key] = string(b)
	}
	// A 400 KB item.
	big := must(item.Unmarshal([]byte(fmt.Sprintf(`{"pk":{"S":"big"},"blob":{"S":%q}}`, strings.Repeat("ü", 204000)))))
	key := put(t, cl, src, big, "pk")
	b, _ := item.Marshal(big)
	want[key] = string(b)

	schemas := compileSchemas(t)
	// The last run reads every version through the SDK alone
	// (DYNASNAP_LEAN_GET=0), the others through the lean GET client.
	// The aws runs write in AWS's layout, under AWSDynamoDB/<exportId>/,
	// and are opened by the folder above it.
	for _, comp := range []string{"gzip", "zstd", "none", "gzip-sdk", "gzip-aws"} {
		if comp == "gzip-sdk" {
			t.Setenv("DYNASNAP_LEAN_GET", "0")
		}
		top := filepath.Join(t.TempDir(), comp)
		dir := top
		at := time.Now().Add(time.Second)
		if strings.HasSuffix(comp, "-aws") {
			dir = filepath.Join(top, snapshot.AWSDir, snapshot.ExportID(at, src.String()))
		}
		if _, err := snapshot.Run(context.Background(), s3source.New(cl, src.Bucket), store.NewLocal(dir), snapshot.Options{Source: src, At: at, Compression: strings.TrimSuffix(strings.TrimSuffix(comp, "-sdk"), "-aws")}); err != nil {
			t.Fatal(err)
		}
		sum, _ := os.ReadFile(filepath.Join(dir, snapshot.SummaryName))
		validate(t, schemas["manifest-summary"], "manifest-summary.json", sum)
		checkAWSFiles(t, dir, sum)
		files, _ := os.ReadFile(filepath.Join(dir, snapshot.FilesName))
		for _, l := range bytes.Split(bytes.TrimSpace(files), []byte("\n")) {
			validate(t, schemas["manifest-files"], "manifest-files.json line", l)
		}
		s, err := snapshot.Open(context.Background(), store.NewLocal(top))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		err = s.EachItem(context.Background(), func(l snapshot.Line) error {
			line, _ := json.Marshal(map[string]json.RawMessage{"Item": l.Item})
			validate(t, schemas["item-line"], "data line", line)
			side, _ := json.Marshal(l.Source)
			validate(t, schemas["sidecar-line"], "sidecar line", side)
			got[l.Source.Key] = string(l.Item)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s changed:\n got %.200s\nwant %.200s", comp, k, got[k], v)
			}
		}
	}
}

// checkAWSFiles checks what AWS writes beside the manifests: the two .md5
// files (base64 MD5 of each manifest) and _started; and the summary's
// fields that AWS fills and dynasnap must too.
func checkAWSFiles(t *testing.T, dir string, sum []byte) {
	t.Helper()
	for name, md5Name := range map[string]string{snapshot.SummaryName: snapshot.SummaryMD5Name, snapshot.FilesName: snapshot.FilesMD5Name} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		want, err := os.ReadFile(filepath.Join(dir, md5Name))
		h := md5.Sum(b)
		if err != nil || string(want) != base64.StdEncoding.EncodeToString(h[:]) {
			t.Errorf("%s: %q, %v", md5Name, want, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, snapshot.StartedName)); err != nil || st.Size() != 0 {
		t.Errorf("_started: %v", err)
	}
	var m map[string]any
	json.Unmarshal(sum, &m)
	if _, ok := m["exportType"]; ok {
		t.Errorf("a full export's summary has exportType: %s", sum)
	}
	if m["billedSizeBytes"].(float64) <= 0 || m["exportArn"] == nil {
		t.Errorf("billedSizeBytes or exportArn not filled: %s", sum)
	}
}

// Buckets written by mapbox/dynamodb-replicator: md5 ids in stream order,
// the NewImage as the body, pretty or compact. They compact the same way.
func TestReadsReplicatorBuckets(t *testing.T) {
	c := testenv.Clients(t)
	cl := c.S3()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "replicator", "legacy")
	putRaw(t, cl, bucket, src.ObjectKey("0cc175b9c0f1b6a831c399e269772661"), []byte("{\n  \"id\": {\"S\": \"a\"},\n  \"n\": {\"N\": \"1\"}\n}\n"))
	putRaw(t, cl, bucket, src.ObjectKey("92eb5ffee6ae2fec3ad71c777531578f"), []byte(`{"id":{"S":"b"}}`))
	dir := t.TempDir()
	res, err := snapshot.Run(context.Background(), s3source.New(cl, src.Bucket), store.NewLocal(dir), snapshot.Options{Source: src, At: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, dir)
	if res.Items != 2 || got[src.ObjectKey("0cc175b9c0f1b6a831c399e269772661")] != `{"id":{"S":"a"},"n":{"N":"1"}}` {
		t.Fatalf("got %v", got)
	}
}

func TestBadInputsGiveClearErrors(t *testing.T) {
	c := testenv.Clients(t)
	cl := c.S3()
	ctx := context.Background()
	at := time.Now().Add(time.Second)

	unversioned := testenv.Bucket(t, c, false)
	_, err := s3source.Open(ctx, cl, unversioned)
	if err == nil || !strings.Contains(err.Error(), "versioning") {
		t.Errorf("unversioned bucket: %v", err)
	}
	_, err = s3source.Open(ctx, cl, "no-such-bucket-dynasnap")
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing bucket: %v", err)
	}

	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "p", "t")
	var items []item.Item
	for i := 0; i < 50; i++ {
		items = append(items, item.Item{"pk": must(item.UnmarshalValue([]byte(fmt.Sprintf(`{"S":"k%d"}`, i))))})
	}
	putMany(t, cl, src, items)
	corrupt := src.ObjectKey("ffff")
	putRaw(t, cl, bucket, corrupt, []byte(`{"pk":{"S":"trunc`))
	dir := t.TempDir()
	_, err = snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(dir), snapshot.Options{Source: src, At: time.Now().Add(time.Second)})
	if err == nil || !strings.Contains(err.Error(), corrupt) || !strings.Contains(err.Error(), "not a DynamoDB item") {
		t.Errorf("corrupt object: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, snapshot.SummaryName)); !os.IsNotExist(err) {
		t.Errorf("a failed snapshot left %s", snapshot.SummaryName)
	}
	if _, err := snapshot.Open(ctx, store.NewLocal(dir)); !errors.Is(err, snapshot.ErrIncomplete) {
		t.Errorf("opening a failed snapshot: %v", err)
	}

	// Opt-in skipping: the run completes and names what it left out.
	dir = t.TempDir()
	res, err := snapshot.Run(ctx, s3source.New(cl, src.Bucket), store.NewLocal(dir), snapshot.Options{Source: src, At: time.Now().Add(time.Second), SkipBadObjects: true, Compression: "none"})
	if err != nil || res.Items != 50 || len(res.BadObjects) != 1 || res.BadObjects[0].Key != corrupt {
		t.Fatalf("--skip-bad-objects: %v, %+v", err, res)
	}
	snap, err := snapshot.Open(ctx, store.NewLocal(dir))
	if err != nil || len(snap.Summary.Dynasnap.SkippedObjects) != 1 {
		t.Fatalf("summary does not list the skipped object: %v", err)
	}
	// A data file altered after the fact fails its manifest checksum.
	f := filepath.Join(dir, snap.Files[0].Data)
	b, _ := os.ReadFile(f)
	os.WriteFile(f, bytes.Replace(b, []byte(`"S":"k`), []byte(`"S":"K`), 1), 0o644)
	err = snap.EachItem(ctx, func(snapshot.Line) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "is corrupt") || !strings.Contains(err.Error(), snap.Files[0].Data) {
		t.Errorf("altered data file: %v", err)
	}

	// Cancellation stops the run with the context's error and no summary.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	dir = t.TempDir()
	_, err = snapshot.Run(cctx, s3source.New(cl, src.Bucket), store.NewLocal(dir), snapshot.Options{Source: src, At: at})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v", err)
	}
}

// S3 output: multipart parts, manifests with full keys, readable back.
func TestS3Output(t *testing.T) {
	c := testenv.Clients(t)
	cl := c.S3()
	bucket := testenv.Bucket(t, c, true)
	src := layout.TableLocation(bucket, "p", "t")
	var items []item.Item
	for i := 0; i < 300; i++ {
		items = append(items, item.Item{"pk": must(item.UnmarshalValue([]byte(fmt.Sprintf(`{"S":"k%d"}`, i)))),
			"pad": must(item.UnmarshalValue([]byte(fmt.Sprintf(`{"S":%q}`, strings.Repeat(fmt.Sprint(i), 7000)))))})
	}
	putMany(t, cl, src, items)
	out, err := store.NewS3(cl, layout.Location{Bucket: bucket, Prefix: "exports/one"}, store.Options{PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	res, err := snapshot.Run(context.Background(), s3source.New(cl, src.Bucket), out, snapshot.Options{Source: src, At: time.Now().Add(time.Second), SingleFile: true, Compression: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Items != 300 || res.DataFiles != 1 || res.BytesWritten < 5<<20 {
		t.Fatalf("items %d files %d", res.Items, res.DataFiles)
	}
	s, err := snapshot.Open(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Files[0].DataFileS3Key, "exports/one/data/") {
		t.Errorf("dataFileS3Key %q is not a full key", s.Files[0].DataFileS3Key)
	}
	n := 0
	if err := s.EachItem(context.Background(), func(snapshot.Line) error { n++; return nil }); err != nil || n != 300 {
		t.Fatalf("read back %d items: %v", n, err)
	}
	// A second run into the same folder is refused.
	if _, err := snapshot.Run(context.Background(), s3source.New(cl, src.Bucket), out, snapshot.Options{Source: src, At: time.Now()}); err == nil || !strings.Contains(err.Error(), "already holds a snapshot") {
		t.Errorf("second run: %v", err)
	}
	r, _ := out.Open(context.Background(), snapshot.SummaryName)
	b, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Contains(b, []byte(`"s3Bucket": "`+bucket)) || !bytes.Contains(b, []byte(`"s3Prefix": "exports/one"`)) ||
		!bytes.Contains(b, []byte(`"s3SseAlgorithm": "AES256"`)) || !bytes.Contains(b, []byte(`"manifestFilesS3Key": "exports/one/manifest-files.json"`)) {
		t.Errorf("summary lacks s3Bucket, s3Prefix, s3SseAlgorithm or a full manifestFilesS3Key: %s", b)
	}
	validate(t, compileSchemas(t)["manifest-summary"], "S3 manifest-summary.json", b)
	if e := s.Files[0].ETag; !strings.HasSuffix(e, "-2") {
		t.Errorf("etag %q: want S3's multipart ETag of 2 parts", e)
	}

	// In AWS's layout on S3: s3Prefix is the prefix above AWSDynamoDB/,
	// keys are from the bucket root, and the parent folder opens it.
	at := time.Now().Add(time.Second)
	id := snapshot.ExportID(at, src.String())
	awsOut, _ := store.NewS3(cl, layout.Location{Bucket: bucket, Prefix: "exports/aws/AWSDynamoDB/" + id}, store.Options{SSE: "AES256"})
	if _, err := snapshot.Run(context.Background(), s3source.New(cl, src.Bucket), awsOut, snapshot.Options{Source: src, At: at, SSE: "AES256",
		TableARN: "arn:aws:dynamodb:us-east-1:123456789012:table/t", TableID: "12345a12-abcd-123a-ab12-1234abc12345"}); err != nil {
		t.Fatal(err)
	}
	parent, _ := store.NewS3(cl, layout.Location{Bucket: bucket, Prefix: "exports/aws"}, store.Options{})
	as, err := snapshot.Open(context.Background(), parent)
	if err != nil {
		t.Fatal(err)
	}
	sm := as.Summary
	if *sm.S3Prefix != "exports/aws" || sm.ExportARN != "arn:aws:dynamodb:us-east-1:123456789012:table/t/export/"+id || *sm.S3SSEAlgorithm != "AES256" ||
		sm.ManifestFilesS3Key != "exports/aws/AWSDynamoDB/"+id+"/manifest-files.json" || *sm.TableID != "12345a12-abcd-123a-ab12-1234abc12345" {
		t.Errorf("aws layout summary: %+v", sm)
	}
	if !strings.HasPrefix(as.Files[0].DataFileS3Key, "exports/aws/AWSDynamoDB/"+id+"/data/") || len(as.Files[0].ETag) != 32 {
		t.Errorf("aws layout file: %+v", as.Files[0])
	}
}

// --sse values as AWS's enum names them (SeaweedFS has no KMS to try).
func TestSSEAlgorithm(t *testing.T) {
	for _, c := range []struct {
		sse  string
		s3   bool
		want string
	}{{"aws:kms", true, "KMS"}, {"AES256", true, "AES256"}, {"", true, "AES256"}, {"", false, ""}} {
		got := snapshot.SSEAlgorithm(c.sse, c.s3)
		if (got == nil) != (c.want == "") || got != nil && *got != c.want {
			t.Errorf("%q s3=%v: %v, want %q", c.sse, c.s3, got, c.want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// AWS's exports as AWS documents them (testdata/aws-exports) match the
// schemas, so the schemas describe AWS's format, not only dynasnap's.
func TestAWSFixturesMatchSchemas(t *testing.T) {
	schemas := compileSchemas(t)
	for _, dir := range []string{"full", "incremental", "after"} {
		sums, _ := filepath.Glob(filepath.Join("../../testdata/aws-exports", dir, "AWSDynamoDB/*/manifest-summary.json"))
		if len(sums) != 1 {
			t.Fatalf("%s: %v", dir, sums)
		}
		b, _ := os.ReadFile(sums[0])
		validate(t, schemas["manifest-summary"], dir+" manifest-summary.json", b)
		files, _ := os.ReadFile(filepath.Join(filepath.Dir(sums[0]), snapshot.FilesName))
		validate(t, schemas["manifest-files"], dir+" manifest-files.json", bytes.TrimSpace(files))
		st := store.NewLocal(filepath.Join("../../testdata/aws-exports", dir))
		if dir == "incremental" {
			c, err := snapshot.OpenChanges(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			err = c.Each(context.Background(), c.Files[0], func(ch snapshot.Change) error {
				n++
				return nil
			})
			if err != nil || n != 5 {
				t.Fatalf("changes: %d %v", n, err)
			}
			if _, err := snapshot.Open(context.Background(), st); err == nil || !strings.Contains(err.Error(), "restore --changes") {
				t.Errorf("Open of an incremental export: %v", err)
			}
			continue
		}
		s, err := snapshot.Open(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.EachItem(context.Background(), func(l snapshot.Line) error {
			line, _ := json.Marshal(map[string]json.RawMessage{"Item": l.Item})
			validate(t, schemas["item-line"], "data line", line)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}
