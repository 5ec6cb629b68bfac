package s3source

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/testsupport/sourcetest"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// writer puts versions and delete markers as the stream writer does.
type writer struct {
	client *s3.Client
	bucket string
}

func (w writer) Put(t *testing.T, key string, body []byte) string {
	out, err := w.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return aws.ToString(out.VersionId)
}

func (w writer) Delete(t *testing.T, key string) string {
	out, err := w.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
	return aws.ToString(out.VersionId)
}

// The S3 source on SeaweedFS follows the rules memsource, its stand-in in
// unit tests, is held to.
func TestAcceptance(t *testing.T) {
	c := testenv.Clients(t)
	sourcetest.Run(t, func(t *testing.T) (history.Source, sourcetest.Writer) {
		bucket := testenv.Bucket(t, c, true)
		src := New(c.S3(), bucket)
		t.Cleanup(src.Close)
		return src, writer{c.S3(), bucket}
	})
}
