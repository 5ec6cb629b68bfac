package main

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/layout"
)

// fleetSeed writes the backups of the fleet tests under s3://bucket/prefix.
type fleetSeed struct {
	t              *testing.T
	c              *awsconf.Clients
	bucket, prefix string
}

// items backs table up per item: one version of each key pk, stored now.
func (f fleetSeed) items(table string, pks ...string) {
	f.t.Helper()
	w := backup.New(f.c.S3(), f.bucket, f.prefix, table)
	for _, pk := range pks {
		k := item.Item{"pk": &types.AttributeValueMemberS{Value: pk}}
		img := item.Item{"pk": &types.AttributeValueMemberS{Value: pk}, "n": &types.AttributeValueMemberN{Value: "1"}}
		if _, err := w.Put(f.t.Context(), k, img, backup.Meta{Source: "backfill", CreatedAt: time.Now()}, backup.PutOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// journal makes table a journal with lag and one segment, stored now,
// holding an INSERT of pk made at changed.
func (f fleetSeed) journal(table string, lag time.Duration, pk string, changed time.Time) {
	f.t.Helper()
	ctx := f.t.Context()
	jb := &journal.S3Bucket{Client: f.c.S3(), Bucket: f.bucket}
	dir := layout.Location{Bucket: f.bucket, Prefix: f.prefix}.Child(table).Dir()
	if err := journal.EnsureDescriptor(ctx, jb, dir, lag, "test"); err != nil {
		f.t.Fatal(err)
	}
	k := item.Item{"pk": &types.AttributeValueMemberS{Value: pk}}
	id, _ := item.KeyID(k)
	keys, _ := item.Marshal(k)
	rec := journal.Record{ID: id, TimeMs: changed.UnixMilli(), Seq: "1", Event: "INSERT", Keys: keys, NewImage: keys,
		Stream: "arn:aws:dynamodb:us-east-1:123456789012:table/" + table + "/stream/2026-01-01T00:00:00.000"}
	if _, err := journal.WriteSegment(ctx, jb, dir, []journal.Record{rec}, time.Now()); err != nil {
		f.t.Fatal(err)
	}
}

// put stores body at key.
func (f fleetSeed) put(key, body string) {
	f.t.Helper()
	if _, err := f.c.S3().PutObject(f.t.Context(), &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		f.t.Fatal(err)
	}
}
