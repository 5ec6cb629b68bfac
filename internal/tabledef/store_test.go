package tabledef_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/tabledef"
	"github.com/dynasnap/dynasnap/internal/testsupport/memsource"
)

// fakeS3 keeps the current version of one object, as S3's HEAD and PUT
// see it. headStatus, if set, makes HEAD fail with that HTTP status.
type fakeS3 struct {
	body       []byte
	meta       map[string]string
	puts       []*s3.PutObjectInput
	headStatus int
}

func (f *fakeS3) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	status := f.headStatus
	if status == 0 && f.body == nil {
		status = http.StatusNotFound
	}
	if status != 0 {
		return nil, &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: errors.New(http.StatusText(status))}}
	}
	return &s3.HeadObjectOutput{Metadata: f.meta}, nil
}

func (f *fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	f.puts = append(f.puts, in)
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	// S3 hands user metadata back under lowercase keys whatever was sent.
	f.body, f.meta = b, map[string]string{}
	for k, v := range in.Metadata {
		f.meta[strings.ToLower(k)] = v
	}
	return &s3.PutObjectOutput{}, nil
}

var loc = layout.TableLocation("backup-bucket", "backups/", "orders")

// The object sits beside the table's folder, so no listing of the items
// meets it.
func TestObjectKey(t *testing.T) {
	if got := tabledef.ObjectKey(loc); got != "backups/orders.dynasnap-table-definition.json" {
		t.Errorf("ObjectKey = %q", got)
	}
	if strings.HasPrefix(tabledef.ObjectKey(loc), loc.Prefix+"/") {
		t.Error("definition object inside the table folder")
	}
}

// Record writes a version only when the content changes: not for a new
// recording time or writer, yes for a new index.
func TestRecord(t *testing.T) {
	ctx := context.Background()
	f := &fakeS3{}
	d := recorded(wantProvisioned())
	if h, err := tabledef.CurrentHash(ctx, f, loc); h != "" || err != nil {
		t.Fatalf("no object: CurrentHash %q, %v", h, err)
	}
	wrote, err := tabledef.Record(ctx, f, loc, d)
	if err != nil || !wrote {
		t.Fatalf("first Record: %v, %v", wrote, err)
	}
	p := f.puts[0]
	if aws.ToString(p.Bucket) != "backup-bucket" || aws.ToString(p.Key) != tabledef.ObjectKey(loc) ||
		aws.ToString(p.ContentType) != "application/json" || aws.ToInt64(p.ContentLength) != int64(len(f.body)) ||
		p.ChecksumAlgorithm != s3types.ChecksumAlgorithmCrc32 {
		t.Errorf("PutObject %+v", p)
	}
	if p.Metadata[tabledef.MetaHash] != d.Hash() || p.Metadata["dynasnap-source"] != "stream" {
		t.Errorf("metadata %v", p.Metadata)
	}
	if want, _ := d.Marshal(); !bytes.Equal(f.body, want) {
		t.Errorf("body is not Marshal's:\n%s", f.body)
	}
	if h, err := tabledef.CurrentHash(ctx, f, loc); h != d.Hash() || err != nil {
		t.Errorf("CurrentHash %q, %v; want %s", h, err, d.Hash())
	}

	again := clone(t, d)
	again.Dynasnap.RecordedAt = again.Dynasnap.RecordedAt.Add(time.Hour)
	again.Dynasnap.RecordedBy = "backfill"
	if wrote, err := tabledef.Record(ctx, f, loc, again); wrote || err != nil || len(f.puts) != 1 {
		t.Errorf("unchanged definition: wrote %v, %v, %d puts", wrote, err, len(f.puts))
	}

	changed := clone(t, d)
	changed.GlobalSecondaryIndexes = append(changed.GlobalSecondaryIndexes, tabledef.GlobalIndex{IndexName: "new",
		KeySchema: changed.KeySchema[:1], Projection: tabledef.Projection{ProjectionType: "ALL"}})
	if wrote, err := tabledef.Record(ctx, f, loc, changed); !wrote || err != nil || len(f.puts) != 2 {
		t.Errorf("changed definition: wrote %v, %v, %d puts", wrote, err, len(f.puts))
	}
}

func TestCurrentHash(t *testing.T) {
	ctx := context.Background()
	// A delete marker answers 405; the object is then absent.
	if h, err := tabledef.CurrentHash(ctx, &fakeS3{headStatus: http.StatusMethodNotAllowed}, loc); h != "" || err != nil {
		t.Errorf("delete marker: %q, %v", h, err)
	}
	_, err := tabledef.CurrentHash(ctx, &fakeS3{headStatus: http.StatusForbidden}, loc)
	if err == nil || !strings.Contains(err.Error(), "head s3://backup-bucket/backups/orders.dynasnap-table-definition.json") {
		t.Errorf("forbidden: %v", err)
	}
	// Metadata keys match whatever their case; none is no hash.
	f := &fakeS3{body: []byte("{}"), meta: map[string]string{"Dynasnap-Definition-Sha256": "abc"}}
	if h, err := tabledef.CurrentHash(ctx, f, loc); h != "abc" || err != nil {
		t.Errorf("mixed-case key: %q, %v", h, err)
	}
	f.meta = nil
	if h, err := tabledef.CurrentHash(ctx, f, loc); h != "" || err != nil {
		t.Errorf("no metadata: %q, %v", h, err)
	}
}

// At folds the object's versions by the items' time rule.
func TestAt(t *testing.T) {
	ctx := context.Background()
	t1 := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
	t2, t3 := t1.Add(time.Hour), t1.Add(2*time.Hour)
	v1 := recorded(wantProvisioned())
	v2 := clone(t, v1)
	v2.GlobalSecondaryIndexes = v2.GlobalSecondaryIndexes[:1]
	b1, _ := v1.Marshal()
	b2, _ := v2.Marshal()
	b2 = append([]byte("\n"), b2...) // At hands back the body as stored

	src := memsource.New("backup-bucket")
	key := tabledef.ObjectKey(loc)
	src.Put(key, b1, t1)
	src.Put(key, b2, t2)
	src.Delete(key, t3)
	// Neighbours the listing of the key's prefix also meets.
	src.Put(key+".bak", []byte("junk"), t2)
	src.Put(loc.Prefix+"/0123", []byte(`{"pk":{"S":"a"}}`), t1)

	tests := []struct {
		at      time.Time
		want    *tabledef.Definition
		raw     []byte
		missing string
	}{
		{at: t1.Add(-time.Second), missing: "was first recorded at 2026-02-01T10:00:00Z, after 2026-02-01T09:59:59Z"},
		{at: t1, want: v1, raw: b1},
		{at: t2.Add(-time.Second), want: v1, raw: b1},
		{at: t2, want: v2, raw: b2},
		{at: t3, missing: "the table definition s3://backup-bucket/backups/orders.dynasnap-table-definition.json was deleted at 2026-02-01T12:00:00Z"},
	}
	for _, tt := range tests {
		r, err := tabledef.At(ctx, src, loc, tt.at)
		if err != nil {
			t.Fatalf("At(%s): %v", tt.at, err)
		}
		if r.Versions != 3 || !r.Earliest.Equal(t1) || r.Key != key {
			t.Errorf("At(%s): %d versions, earliest %s, key %s", tt.at, r.Versions, r.Earliest, r.Key)
		}
		if tt.want == nil {
			if r.Def != nil {
				t.Errorf("At(%s): a definition", tt.at)
			}
			if m := r.Missing(loc, tt.at); !strings.Contains(m, tt.missing) {
				t.Errorf("At(%s): Missing %q, want %q", tt.at, m, tt.missing)
			}
			continue
		}
		diffJSON(t, r.Def, tt.want)
		if !bytes.Equal(r.Raw, tt.raw) || r.From.LastModified.After(tt.at) {
			t.Errorf("At(%s): raw %q from %+v", tt.at, r.Raw, r.From)
		}
	}

	// Never recorded (older backups, other tools).
	r, err := tabledef.At(ctx, memsource.New("b"), loc, t3)
	if err != nil || r.Def != nil || r.Versions != 0 {
		t.Fatalf("empty bucket: %+v, %v", r, err)
	}
	if m := r.Missing(loc, t3); !strings.Contains(m, "the backup records no table definition (no s3://backup-bucket/backups/orders.dynasnap-table-definition.json") {
		t.Errorf("Missing %q", m)
	}
	if m := (*tabledef.Recorded)(nil).Missing(loc, t3); !strings.Contains(m, "records no table definition") {
		t.Errorf("nil Missing %q", m)
	}
}

// A version this dynasnap cannot read stops At, naming the version.
func TestAtUnreadable(t *testing.T) {
	src := memsource.New("backup-bucket")
	at := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
	id := src.Put(tabledef.ObjectKey(loc), []byte(`{"TableName":"orders","KeySchema":[],"dynasnap":{"formatVersion":7}}`), at)
	_, err := tabledef.At(context.Background(), src, loc, at)
	want := "s3://backup-bucket/backups/orders.dynasnap-table-definition.json version " + id + ": table definition has format version 7"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}
