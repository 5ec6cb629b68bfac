// Package testenv connects integration tests to the local stack (real
// SeaweedFS and dynalite on 127.0.0.1, started by scripts/stack.sh) and
// gives each test its own versioned bucket or table.
package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/item"
)

// Clients returns AWS clients for the local stack. Without a stack the test
// is skipped, unless DYNASNAP_REQUIRE_STACK=1 (set by `make test` and CI),
// where a missing stack is a failure.
func Clients(t testing.TB) *awsconf.Clients {
	t.Helper()
	loadStackEnv(t)
	if os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		if os.Getenv("DYNASNAP_REQUIRE_STACK") == "1" {
			t.Fatal("the local stack is not running: run 'make up' (or 'make test', which starts it)")
		}
		t.Skip("local stack not running (make up); skipping integration test")
	}
	c, err := awsconf.Load(context.Background(), awsconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// moduleRoot is the repository's root folder, found from this file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Items returns testdata/items, decoded, by file name: every attribute type,
// with odd names and values.
func Items(t testing.TB) map[string]item.Item {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(moduleRoot(), "testdata", "items", "*.json"))
	if len(files) == 0 {
		t.Fatal("no testdata/items")
	}
	out := map[string]item.Item{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		it, err := item.Unmarshal(bytes.TrimSpace(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = it
	}
	return out
}

// loadStackEnv reads .stack/env at the module root if the variables are unset.
func loadStackEnv(t testing.TB) {
	if os.Getenv("AWS_ENDPOINT_URL_S3") != "" {
		return
	}
	f, err := os.Open(filepath.Join(moduleRoot(), ".stack", "env"))
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if ok {
			t.Setenv(k, v)
		}
	}
}

// Name returns a unique lowercase name with the given prefix.
func Name(prefix string) string {
	b := make([]byte, 5)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// Bucket creates a fresh bucket, with versioning enabled if versioned.
func Bucket(t testing.TB, c *awsconf.Clients, versioned bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := Name("test")
	cl := c.S3()
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	// Each bucket holds server resources (SeaweedFS volumes): free them.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cl.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
	})
	if versioned {
		_, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
		if err != nil {
			t.Fatalf("enable versioning on %s: %v", name, err)
		}
	}
	return name
}

// DynamoDB returns a DynamoDB client for the local stack.
func DynamoDB(t testing.TB) *dynamodb.Client { return Clients(t).DynamoDB() }

// WaitTable waits until a table just created is ACTIVE: dynalite answers
// CreateTable with CREATING, and a write that arrives first under load is
// refused as ResourceNotFound.
func WaitTable(t testing.TB, db *dynamodb.Client, name string) {
	t.Helper()
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 500*time.Millisecond
	})
	if err := w.Wait(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 60*time.Second); err != nil {
		t.Fatalf("table %s never became active: %v", name, err)
	}
}
