package journal_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/testsupport/buckettest"
	"github.com/dynasnap/dynasnap/internal/testsupport/membucket"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// Every journal.Bucket passes one suite: the in-memory one of the unit
// tests, S3Bucket on SeaweedFS, and S3Bucket on a second S3 server
// (gofakes3, in process), so the journal does not lean on one server's
// ways.
func TestAcceptanceMemBucket(t *testing.T) {
	buckettest.Run(t, func(t *testing.T) journal.Bucket { return membucket.New() })
}

func TestAcceptanceSeaweedFS(t *testing.T) {
	c := testenv.Clients(t)
	buckettest.Run(t, func(t *testing.T) journal.Bucket {
		return &journal.S3Bucket{Client: c.S3(), Bucket: testenv.Bucket(t, c, true)}
	})
}

func TestAcceptanceGofakes3(t *testing.T) {
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{BaseEndpoint: aws.String(srv.URL), UsePathStyle: true, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("fake", "fake", "")})
	n := 0
	buckettest.Run(t, func(t *testing.T) journal.Bucket {
		n++
		name := "journal-" + string(rune('a'+n))
		if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		return &journal.S3Bucket{Client: client, Bucket: name}
	})
}
