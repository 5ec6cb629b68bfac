package stream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/backup"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/stream"
	"github.com/dynasnap/dynasnap/internal/testsupport/faultproxy"
	"github.com/dynasnap/dynasnap/internal/testsupport/reliability"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

const relARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026-01-01T00:00:00.000"

// relEvents makes n stream records over keys keys (inserts, modifies,
// removes, in a seeded random order) and the state they leave: the image of
// every key that exists at the end.
func relEvents(n, keys int) ([]stream.Record, map[string]string) {
	rng := rand.New(rand.NewPCG(7, 7))
	state := map[string]string{}
	var recs []stream.Record
	for i := range n {
		k := fmt.Sprintf("user#%d", rng.IntN(keys))
		keyJSON := fmt.Sprintf(`{"pk":{"S":%q}}`, k)
		r := stream.Record{EventID: fmt.Sprint(i), EventSource: "aws:dynamodb", EventSourceARN: relARN, AWSRegion: "us-east-1",
			Change: stream.StreamRecord{ApproximateCreationDateTime: json.Number(fmt.Sprint(1767225600 + i)), Keys: json.RawMessage(keyJSON),
				SequenceNumber: fmt.Sprintf("%024d", 100000+i), StreamViewType: "NEW_AND_OLD_IMAGES"}}
		_, exists := state[k]
		if exists && rng.IntN(4) == 0 {
			r.EventName = "REMOVE"
			delete(state, k)
		} else {
			r.EventName = map[bool]string{true: "MODIFY", false: "INSERT"}[exists]
			img := fmt.Sprintf(`{"pk":{"S":%q},"n":{"N":"%d"},"s":{"S":"change %d"}}`, k, i, i)
			r.Change.NewImage = json.RawMessage(img)
			it, _ := item.Unmarshal([]byte(img))
			b, _ := item.Marshal(it)
			state[k] = string(b)
		}
		recs = append(recs, r)
	}
	return recs, state
}

// deliver plays Lambda: a batch is invoked until every record is applied,
// redelivered from the first failed record (batchItemFailures) or whole
// after an invocation error, at most max times.
func deliver(ctx context.Context, h *stream.Handler, batch []stream.Record, max int) (invocations int, err error) {
	for invocations < max {
		invocations++
		resp, herr := h.Handle(ctx, stream.Event{Records: batch})
		if herr != nil {
			err = herr
			continue
		}
		if len(resp.BatchItemFailures) == 0 {
			return invocations, nil
		}
		seq := resp.BatchItemFailures[0].ItemIdentifier
		i := 0
		for i < len(batch) && batch[i].Change.SequenceNumber != seq {
			i++
		}
		if i == len(batch) {
			return invocations, fmt.Errorf("batchItemFailures names %s, not in the batch", seq)
		}
		batch = batch[i:]
		err = fmt.Errorf("record %s not applied", seq)
	}
	return invocations, err
}

// TestReliabilityStreamFaults: the stream writer, redelivered as Lambda
// does, leaves exactly the model's state in the bucket through 5% S3 faults;
// at 100% it applies nothing and reports the first record (or fails the
// invocation), never claiming success.
func TestReliabilityStreamFaults(t *testing.T) {
	c := testenv.Clients(t)
	ctx := context.Background()
	recs, want := relEvents(400, 60)
	const batchSize = 40

	t.Run("5%", func(t *testing.T) {
		bucket := testenv.Bucket(t, c, true)
		p := faultproxy.New(t, faultproxy.Config{Target: os.Getenv("AWS_ENDPOINT_URL_S3"), Rate: 0.05, Seed: 41})
		h := handler(t, p.URL, bucket)
		start := time.Now()
		invocations := 0
		for i := 0; i < len(recs); i += batchSize {
			n, err := deliver(ctx, h, recs[i:min(i+batchSize, len(recs))], 20)
			invocations += n
			if err != nil {
				t.Fatalf("batch at %d not applied after %d invocations: %v (%+v)", i, n, err, p.Stats())
			}
		}
		got, extra := bucketState(t, c, bucket, recs)
		lost := 0
		var detail []string
		for k, v := range want {
			if got[k] != v {
				lost++
				detail = append(detail, fmt.Sprintf("%s: %q != %q", k, got[k], v))
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				lost++
				detail = append(detail, k+" exists, should be deleted")
			}
		}
		st := p.Stats()
		reliability.Record(t, reliability.Result{Area: "stream writer", Tried: "5% of S3 requests faulted: " + strings.Join(kindNames(faultproxy.S3Kinds), ", "),
			Outcome: fmt.Sprintf("every batch applied after Lambda-style redelivery (%d invocations for %d batches); bucket equals the model; %d duplicate versions from retried PUTs", invocations, (len(recs)+batchSize-1)/batchSize, extra),
			Rate:    0.05, Seed: 41, Requests: st.Requests, Injected: st.Injected, Faults: st.Faults(), Retries: st.Repeats,
			Checked: 60, Lost: int64(lost), Exit: -1, Seconds: time.Since(start).Seconds()})
		if lost != 0 {
			t.Fatalf("%d keys wrong: %v", lost, detail[:min(len(detail), 5)])
		}
		t.Logf("proxy %+v, %d invocations, %d duplicate versions", st, invocations, extra)
	})

	t.Run("100%", func(t *testing.T) {
		t.Setenv("AWS_MAX_ATTEMPTS", "3")
		bucket := testenv.Bucket(t, c, true)
		start := time.Now()
		// Every request fails: the versioning check fails the invocation.
		p := faultproxy.New(t, faultproxy.Config{Target: os.Getenv("AWS_ENDPOINT_URL_S3"), Rate: 1, Seed: 102, Kinds: faultproxy.Failing})
		h := handler(t, p.URL, bucket)
		_, err := h.Handle(ctx, stream.Event{Records: recs[:batchSize]})
		if err == nil {
			t.Fatal("an invocation with every request failing returned no error")
		}
		// Versioning checked, then every write fails: the first record is
		// reported, so Lambda redelivers the whole batch.
		p2 := faultproxy.New(t, faultproxy.Config{Target: os.Getenv("AWS_ENDPOINT_URL_S3"), Rate: 1, Seed: 103, Kinds: faultproxy.Failing,
			Eligible: func(r *http.Request) bool { return !r.URL.Query().Has("versioning") }})
		h2 := handler(t, p2.URL, bucket)
		resp, err2 := h2.Handle(ctx, stream.Event{Records: recs[:batchSize]})
		if err2 != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != recs[0].Change.SequenceNumber {
			t.Fatalf("writes failing: %v %+v, want the first record reported", err2, resp.BatchItemFailures)
		}
		got, _ := bucketState(t, c, bucket, recs[:batchSize])
		st, st2 := p.Stats(), p2.Stats()
		faults := st.Faults() + st2.Faults()
		inj := st.Injected
		for k, v := range st2.Injected {
			inj[k] += v
		}
		reliability.Record(t, reliability.Result{Area: "stream writer", Tried: "100% of S3 requests fail (versioning check; then every write)",
			Outcome: fmt.Sprintf("invocation fails; then batchItemFailures names the first record, %d items written", len(got)),
			Rate:    1, Seed: 102, Requests: st.Requests + st2.Requests, Injected: inj, Faults: faults,
			Retries: st.Repeats + st2.Repeats, Exit: -1, Message: err.Error(), Seconds: time.Since(start).Seconds()})
	})
}

// TestReliabilityStreamSecretNotLogged: with debug logging and a failing
// S3, the writer's logs and errors never hold the secret key.
func TestReliabilityStreamSecretNotLogged(t *testing.T) {
	c := testenv.Clients(t)
	bucket := testenv.Bucket(t, c, true)
	const secret = "RELIABILITY-SECRET-wJalrXUtnFEMI-K7MDENG"
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_MAX_ATTEMPTS", "2")
	var logs bytes.Buffer
	pc, err := awsconf.Load(context.Background(), awsconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The SDK's own request, signing and retry logging too.
	pc.Config.ClientLogMode = aws.LogRequest | aws.LogResponse | aws.LogRetries | aws.LogSigning
	pc.Config.Logger = logging.NewStandardLogger(&logs)
	h, err := stream.New(pc.S3(), stream.Config{Bucket: bucket, Prefix: "backups", Concurrency: 4, SkipApplied: true},
		slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := relEvents(10, 5)
	_, herr := h.Handle(context.Background(), stream.Event{Records: recs})
	out := logs.String()
	if herr != nil {
		out += herr.Error()
	}
	var ae smithy.APIError
	if herr == nil || !errors.As(herr, &ae) {
		t.Logf("handle: %v", herr)
	}
	leaked := strings.Contains(out, secret) || strings.Contains(out, secret[:12])
	reliability.Record(t, reliability.Result{Area: "security", Tried: "stream writer with a wrong AWS_SECRET_ACCESS_KEY, DYNASNAP_LOG_LEVEL=debug and SDK request/signing logs",
		Outcome: map[bool]string{false: "fails (signature rejected); the secret appears nowhere in logs or errors", true: "LEAKED the secret"}[leaked],
		Exit:    -1, Message: reliability.FirstLine(errString(herr))})
	if leaked {
		t.Fatalf("the secret key appears in the logs or error:\n%s", out)
	}
	if herr == nil {
		t.Fatal("a wrong secret key went unnoticed")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func handler(t *testing.T, endpoint, bucket string) *stream.Handler {
	t.Helper()
	pc, err := awsconf.Load(context.Background(), awsconf.Options{EndpointURL: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	h, err := stream.New(pc.S3(), stream.Config{Bucket: bucket, Prefix: "backups", Concurrency: 8, SkipApplied: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// bucketState reads, fault-free, the current image of every key the records
// touch (absent if deleted or never written), and counts versions beyond
// one per record applied (duplicates from retried PUTs). The table is
// Orders unless named.
func bucketState(t *testing.T, c *awsconf.Clients, bucket string, recs []stream.Record, table ...string) (map[string]string, int) {
	t.Helper()
	ctx := context.Background()
	w := backup.New(nil, bucket, "backups", append(table, "Orders")[0])
	got := map[string]string{}
	seen := map[string]bool{}
	changes := map[string]int{}
	for _, r := range recs {
		k, _ := item.Unmarshal(r.Change.Keys)
		changes[string(r.Change.Keys)]++
		if seen[string(r.Change.Keys)] {
			continue
		}
		seen[string(r.Change.Keys)] = true
		objKey, _ := w.ObjectKey(k)
		g, err := c.S3().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(objKey)})
		if err != nil {
			var ae smithy.APIError
			if errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound") {
				continue
			}
			t.Fatalf("get %s: %v", objKey, err)
		}
		b, err := io.ReadAll(g.Body)
		g.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		it, err := item.Unmarshal(b)
		if err != nil {
			t.Fatalf("%s: %v", objKey, err)
		}
		cb, _ := item.Marshal(it)
		got[k["pk"].(*ddbtypes.AttributeValueMemberS).Value] = string(cb)
	}
	out, err := c.S3().ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String("backups/")})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range changes {
		total += n
	}
	return got, len(out.Versions) + len(out.DeleteMarkers) - total
}

func kindNames(ks []faultproxy.Kind) []string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return s
}
