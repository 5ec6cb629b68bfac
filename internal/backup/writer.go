// Package backup writes items into the backup layout (docs/DESIGN.md §2):
// one object per item at <prefix>/<table>/<object id>, one version per
// change, a delete marker per removal. The stream Lambda and backfill share it
// so that both name and encode an item identically.
package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/dynasnap/dynasnap/internal/awserr"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/layout"
)

// Metadata keys (S3 sends them as x-amz-meta-<name>). Nothing reads them to
// decide what an object holds; the stream writer reads the sequence number
// and stream ARN of an item's current version to skip a change it already
// wrote (its replay rule, docs/design-replay.md).
const (
	MetaSequenceNumber = "dynasnap-sequence-number"
	// MetaStreamARN is the event source ARN of the stream the change came
	// from, stream label included: sequence numbers are ordered only within
	// one stream.
	MetaStreamARN    = "dynasnap-stream-arn"
	MetaCreationTime = "dynasnap-approximate-creation-time"
	MetaSource       = "dynasnap-source"
	// MetaExpired marks a tombstone: a copy of an item's last image written
	// just before the delete marker of a TTL delete, which a delete marker
	// cannot record itself (docs/DESIGN.md §2.4). Its value is the TTL
	// delete's ApproximateCreationDateTime; MetaExpiredSequenceNumber is
	// its sequence number.
	MetaExpired               = "dynasnap-expired"
	MetaExpiredSequenceNumber = "dynasnap-expired-sequence-number"
)

// S3API is the part of the S3 client the writer uses; tests pass fakes.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Meta describes where a change came from.
type Meta struct {
	SequenceNumber string    // the stream record's; empty for backfill
	StreamARN      string    // the record's eventSourceARN; empty for backfill
	CreatedAt      time.Time // ApproximateCreationDateTime, or the scan time
	Source         string    // "stream" or "backfill"
}

// Writer writes one table's items under its table location.
type Writer struct {
	client S3API
	loc    layout.Location
}

// New returns a writer for table under s3://bucket/prefix.
func New(client S3API, bucket, prefix, table string) *Writer {
	return &Writer{client: client, loc: layout.TableLocation(bucket, prefix, table)}
}

// Location is the table location the writer writes under.
func (w *Writer) Location() layout.Location { return w.loc }

// ObjectKey names the object of the item whose key attributes are key (only
// the key attributes: the id hashes all of them).
func (w *Writer) ObjectKey(key item.Item) (string, error) {
	id, err := item.KeyID(key)
	if err != nil {
		return "", fmt.Errorf("object id: %w", err)
	}
	return w.loc.ObjectKey(id), nil
}

// PutOptions change how Put treats an object that already exists.
type PutOptions struct {
	// IfAbsent makes the put conditional (If-None-Match: *), so a version the
	// stream already wrote is never buried under an older scanned image.
	IfAbsent bool
}

// ErrExists is returned by a conditional Put when the object already exists.
var ErrExists = errors.New("object already exists")

// Put writes image as the new version of the item with key attributes key.
// It returns the object key written.
func (w *Writer) Put(ctx context.Context, key, image item.Item, meta Meta, opts PutOptions) (string, error) {
	objKey, err := w.ObjectKey(key)
	if err != nil {
		return "", err
	}
	body, err := item.Marshal(image)
	if err != nil {
		return objKey, fmt.Errorf("encode image for %s: %w", objKey, err)
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(w.loc.Bucket),
		Key:           aws.String(objKey),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/json"),
		Metadata:      meta.headers(),
		// A bucket with Object Lock refuses a PUT without an integrity
		// checksum (Content-MD5 or x-amz-checksum-*); ask for one whatever
		// the SDK's checksum configuration (docs/DESIGN.md §2.4).
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	if opts.IfAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := w.client.PutObject(ctx, in); err != nil {
		if opts.IfAbsent && isPreconditionFailed(err) {
			return objKey, ErrExists
		}
		return objKey, fmt.Errorf("put s3://%s/%s: %w", w.loc.Bucket, objKey, err)
	}
	return objKey, nil
}

// Delete removes the item with key attributes key: in a versioned bucket this
// adds a delete marker and keeps every earlier version.
func (w *Writer) Delete(ctx context.Context, key item.Item) (string, error) {
	objKey, err := w.ObjectKey(key)
	if err != nil {
		return "", err
	}
	_, err = w.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.loc.Bucket), Key: aws.String(objKey)})
	if err != nil {
		return objKey, fmt.Errorf("delete s3://%s/%s: %w", w.loc.Bucket, objKey, err)
	}
	return objKey, nil
}

// CopyAPI is the call Tombstone makes.
type CopyAPI interface {
	CopyObject(ctx context.Context, in *s3.CopyObjectInput, opts ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
}

// Tombstone writes, before the delete marker of a TTL delete, a new
// version that is a server-side copy of the item's current version (its
// last image) with MetaExpired set (docs/DESIGN.md §2.4). last is the
// current version's sequence number and stream (zero if unknown), kept on
// the copy so the replay rule compares with the same image as before;
// meta is the TTL delete's. ok is false, with nothing written, when the
// item has no current version to copy (deleted already, or never backed
// up): the delete is then a plain delete marker.
func (w *Writer) Tombstone(ctx context.Context, client CopyAPI, key item.Item, last State, meta Meta) (ok bool, err error) {
	objKey, err := w.ObjectKey(key)
	if err != nil {
		return false, err
	}
	h := Meta{SequenceNumber: last.Seq, StreamARN: last.Stream, Source: meta.Source}.headers()
	h[MetaExpired] = meta.CreatedAt.UTC().Format(time.RFC3339Nano)
	if meta.CreatedAt.IsZero() {
		h[MetaExpired] = "true"
	}
	if meta.SequenceNumber != "" {
		h[MetaExpiredSequenceNumber] = meta.SequenceNumber
	}
	_, err = client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String(w.loc.Bucket), Key: aws.String(objKey),
		// The current version: the chain of one key runs alone.
		CopySource:        aws.String(url.PathEscape(w.loc.Bucket) + "/" + escapeKey(objKey)),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: h, ContentType: aws.String("application/json"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32, // Object Lock, as Put
	})
	if err != nil {
		if awserr.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("tombstone (copy) s3://%s/%s: %w", w.loc.Bucket, objKey, err)
	}
	return true, nil
}

// escapeKey escapes an object key for CopySource, keeping its slashes.
func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func (m Meta) headers() map[string]string {
	h := map[string]string{}
	if m.SequenceNumber != "" {
		h[MetaSequenceNumber] = m.SequenceNumber
	}
	if m.StreamARN != "" {
		h[MetaStreamARN] = m.StreamARN
	}
	if !m.CreatedAt.IsZero() {
		h[MetaCreationTime] = m.CreatedAt.UTC().Format(time.RFC3339Nano)
	}
	if m.Source != "" {
		h[MetaSource] = m.Source
	}
	return h
}

func isPreconditionFailed(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return true
		}
	}
	return false
}
