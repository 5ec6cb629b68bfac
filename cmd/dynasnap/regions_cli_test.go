package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynasnap/dynasnap/internal/testsupport/regionproxy"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

const (
	regionsOwner = "111122223333"
	regionsOther = "444455556666"
)

// regionsSetup seeds a backup in one bucket "in eu-west-1" and makes a
// snapshot bucket "in ap-southeast-2", both behind a proxy that refuses
// requests signed for any other region with 301 + x-amz-bucket-region, and
// checks x-amz-expected-bucket-owner against regionsOwner. The table side,
// dynalite, is us-east-1 (AWS_REGION). The proxy is the S3 endpoint.
func regionsSetup(t *testing.T) (*regionproxy.Proxy, string, string, string) {
	c := testenv.Clients(t)
	src := seed(t, 120)
	snapBucket := testenv.Bucket(t, c, true)
	time.Sleep(1100 * time.Millisecond)
	at := time.Now().Add(-100 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	p := regionproxy.New(t, regionproxy.Config{Target: os.Getenv("AWS_ENDPOINT_URL_S3"),
		Regions: map[string]string{src.Bucket: "eu-west-1", snapBucket: "ap-southeast-2"}, Owner: regionsOwner})
	t.Setenv("AWS_ENDPOINT_URL_S3", p.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	return p, src.String(), snapBucket, at
}

// TestRegionsEveryCommand: with the backup bucket in eu-west-1, the
// snapshot bucket in ap-southeast-2 and the table in us-east-1, every
// command finds each bucket's region with one HeadBucket and works; with
// the right --expected-bucket-owner too.
func TestRegionsEveryCommand(t *testing.T) {
	p, src, snapBucket, at := regionsSetup(t)
	srcBucket := strings.SplitN(strings.TrimPrefix(src, "s3://"), "/", 2)[0]
	ddb := testenv.DynamoDB(t)
	tables := []string{testenv.Name("regions"), testenv.Name("regions"), testenv.Name("regions")}
	t.Cleanup(func() {
		for _, tb := range tables {
			ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(tb)})
		}
	})
	// backfill, last, copies the first restore's us-east-1 table into the
	// eu-west-1 bucket.
	snap := "s3://" + snapBucket + "/exports/orders/one"
	owner := []string{"--expected-bucket-owner", regionsOwner}
	steps := []struct {
		name    string
		args    []string
		buckets []string
	}{
		{"snapshot", []string{"snapshot", "--source", src, "--at", at, "--out", snap, "--quiet"}, []string{srcBucket, snapBucket}},
		{"snapshot --base", []string{"snapshot", "--source", src, "--at", at, "--base", snap, "--out", "s3://" + snapBucket + "/exports/orders/two", "--quiet"}, []string{srcBucket, snapBucket}},
		{"restore --snapshot", []string{"restore", "--snapshot", snap, "--table", tables[0], "--create-table", "--quiet"}, []string{snapBucket}},
		{"restore --source", []string{"restore", "--source", src, "--at", at, "--table", tables[1], "--create-table", "--quiet"}, []string{srcBucket}},
		{"verify", []string{"verify", "--snapshot", snap, "--table", tables[1], "--quiet"}, []string{snapBucket}},
		{"diff", []string{"diff", "--source", src, "--from", "-1h", "--quiet"}, []string{srcBucket}},
		{"history", []string{"history", "--source", src, "--key", `{"pk":{"S":"order#7"}}`}, []string{srcBucket}},
		{"drill", []string{"drill", "--source", src, "--snapshots", "s3://" + snapBucket + "/drills", "--table-prefix", "regions-drill", "--quiet"}, []string{srcBucket, snapBucket}},
		{"backfill", []string{"backfill", "--table", tables[0], "--dest", "s3://" + srcBucket + "/backfilled", "--quiet"}, []string{srcBucket}},
	}
	for i, s := range steps {
		args := s.args
		if i%2 == 1 {
			args = append(append([]string{}, args...), owner...) // the right owner changes nothing
		}
		p.Reset()
		o, e, code := cli(args...)
		st := p.Stats()
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s\nproxy: %+v", s.name, code, e, o, st)
		}
		for _, b := range s.buckets {
			if st.HeadBucket[b] != 1 {
				t.Errorf("%s: %d HeadBucket calls for %s, want one region lookup per bucket per run", s.name, st.HeadBucket[b], b)
			}
		}
		if i%2 == 1 && st.WithOwner == 0 {
			t.Errorf("%s with --expected-bucket-owner: no request carried x-amz-expected-bucket-owner", s.name)
		}
		t.Logf("%s: proxy %+v", s.name, st)
	}
}

// TestRegionsWrongOwner: with another --expected-bucket-owner every command
// fails before anything is written, naming the bucket and the account.
func TestRegionsWrongOwner(t *testing.T) {
	p, src, snapBucket, at := regionsSetup(t)
	srcBucket := strings.SplitN(strings.TrimPrefix(src, "s3://"), "/", 2)[0]
	ddb := testenv.DynamoDB(t)
	table := idTable(t, ddb, "regions-owner")
	fresh := testenv.Name("regions")
	t.Cleanup(func() {
		ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(fresh)})
	})
	owner := []string{"--expected-bucket-owner", regionsOther}
	snap := "s3://" + snapBucket + "/exports/orders/one"
	for _, s := range []struct {
		name, bucket string
		args         []string
	}{
		{"snapshot", srcBucket, []string{"snapshot", "--source", src, "--at", at, "--out", snap, "--quiet"}},
		{"restore --snapshot", snapBucket, []string{"restore", "--snapshot", snap, "--table", fresh, "--create-table", "--quiet"}},
		{"restore --source", srcBucket, []string{"restore", "--source", src, "--at", at, "--table", fresh, "--create-table", "--quiet"}},
		{"diff", srcBucket, []string{"diff", "--source", src, "--from", "-1h", "--quiet"}},
		{"history", srcBucket, []string{"history", "--source", src, "--key", `{"pk":{"S":"order#7"}}`}},
		{"drill", srcBucket, []string{"drill", "--source", src, "--snapshots", "s3://" + snapBucket + "/drills", "--table-prefix", "regions-drill", "--quiet"}},
		{"backfill", srcBucket, []string{"backfill", "--table", table, "--dest", "s3://" + srcBucket + "/backfilled", "--quiet"}},
	} {
		args := append(append([]string{}, s.args...), owner...)
		p.Reset()
		o, e, code := cli(args...)
		st := p.Stats()
		if code == 0 {
			t.Fatalf("%s with a wrong owner: exit 0\n%s", s.name, o)
		}
		if !strings.Contains(e, s.bucket) || !strings.Contains(e, regionsOther) {
			t.Errorf("%s: the error names neither bucket %s nor account %s: %s", s.name, s.bucket, regionsOther, e)
		}
		if st.Writes != 0 {
			t.Errorf("%s: %d writes reached the S3 server", s.name, st.Writes)
		}
		t.Logf("%s: exit %d: %s", s.name, code, strings.TrimSpace(e))
	}
	if _, err := ddb.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(fresh)}); err == nil {
		t.Errorf("a restore with the wrong owner created table %s", fresh)
	}
	out, err := ddb.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil || len(out.Items) != 0 {
		t.Errorf("the table was written: %v %v", err, out)
	}
}

// --source-profile reads the backup with one identity, --profile the rest:
// a snapshot reads with the source identity only, and a restore writes the
// table with the other. Neither secret is printed.
func TestSourceProfile(t *testing.T) {
	src := seed(t, 30)
	time.Sleep(1100 * time.Millisecond)
	at := time.Now().Add(-100 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	table := testenv.Name("srcprofile")
	ddb := testenv.DynamoDB(t)
	key, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	dir := t.TempDir()
	creds := dir + "/credentials"
	const badSecret = "not-the-secret-0123456789"
	if err := os.WriteFile(creds, []byte("[backup]\naws_access_key_id = "+key+"\naws_secret_access_key = "+secret+
		"\n[stranger]\naws_access_key_id = "+key+"\naws_secret_access_key = "+badSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")
	out := dir + "/snap"
	if _, e, code := cli("snapshot", "--source", src.String(), "--at", at, "--out", out, "--quiet", "--source-profile", "backup", "--profile", "stranger"); code != 0 {
		t.Fatalf("snapshot reading with --source-profile backup: exit %d: %s", code, e)
	}
	_, e, code := cli("snapshot", "--source", src.String(), "--at", at, "--out", dir+"/snap2", "--quiet", "--source-profile", "stranger", "--profile", "backup")
	if code == 0 {
		t.Fatal("snapshot reading with --source-profile stranger (a wrong secret) succeeded: the source side did not use it")
	}
	if strings.Contains(e, badSecret) || strings.Contains(e, secret) {
		t.Fatalf("a secret was printed: %s", e)
	}
	t.Cleanup(func() {
		ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	if _, e, code := cli("restore", "--source", src.String(), "--at", at, "--table", table, "--create-table", "--quiet", "--source-profile", "backup", "--profile", "backup"); code != 0 {
		t.Fatalf("restore with both profiles: exit %d: %s", code, e)
	}
}
