// Command dynasnap-demo plays a live table for `make demo`: it sends a few
// thousand changes (inserts, modifies, removes) through the stream writer's
// handler over several seconds, as DynamoDB Streams would deliver them, and
// prints the moment in the middle with the item count the table had then.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"os/signal"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/pflag"

	"github.com/dynasnap/dynasnap/internal/awsconf"
	"github.com/dynasnap/dynasnap/internal/layout"
	"github.com/dynasnap/dynasnap/internal/stream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "dynasnap-demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	bucket := pflag.String("bucket", "dynasnap-demo", "backup bucket (created with versioning if missing)")
	prefix := pflag.String("prefix", "backups", "backup prefix")
	table := pflag.String("table", "orders", "table name")
	keys := pflag.Int("keys", 800, "distinct items")
	changes := pflag.Int("changes", 3000, "changes to write")
	seconds := pflag.Int("seconds", 6, "seconds to spread them over")
	layoutName := pflag.String("layout", stream.LayoutJournal, "how the stream writer stores changes: journal (one segment per batch) or items (one object version per change)")
	lag := pflag.Duration("journal-lag", 2*time.Second, "with --layout journal: the delivery lag recorded in the journal (a snapshot at T waits until T plus this)")
	pflag.Parse()

	clients, err := awsconf.Load(ctx, awsconf.Options{})
	if err != nil {
		return err
	}
	cl := clients.S3()
	if _, err := cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(*bucket)}); err != nil {
		if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(*bucket)}); err != nil {
			return fmt.Errorf("create bucket %s: %w", *bucket, err)
		}
	}
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(*bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		return fmt.Errorf("enable versioning on %s: %w", *bucket, err)
	}
	h, err := stream.New(cl, stream.Config{Bucket: *bucket, Prefix: *prefix, Layout: *layoutName, JournalLag: *lag, Tool: "dynasnap-demo"}, slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	arn := fmt.Sprintf("arn:aws:dynamodb:us-east-1:123456789012:table/%s/stream/2026-01-01T00:00:00.000", *table)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	live := map[int]bool{}
	seq := time.Now().UnixNano()
	perSecond := *changes / *seconds
	var mid time.Time
	midCount := 0
	for s := 0; s < *seconds; s++ {
		// Each burst starts just after a second begins, so the second its
		// versions are stamped with is known and the middle is exact.
		now := time.Now()
		time.Sleep(now.Truncate(time.Second).Add(time.Second + 20*time.Millisecond).Sub(now))
		var ev stream.Event
		for i := 0; i < perSecond; i++ {
			k := rng.Intn(*keys)
			seq++
			rec := stream.Record{EventID: fmt.Sprint(seq), EventSource: "aws:dynamodb", EventSourceARN: arn, AWSRegion: "us-east-1"}
			rec.Change.SequenceNumber = fmt.Sprintf("%021d", seq)
			rec.Change.ApproximateCreationDateTime = json.Number(fmt.Sprint(time.Now().Unix()))
			rec.Change.StreamViewType = "NEW_AND_OLD_IMAGES"
			rec.Change.Keys = json.RawMessage(fmt.Sprintf(`{"pk":{"S":"order#%05d"}}`, k))
			switch {
			case live[k] && rng.Intn(4) == 0:
				rec.EventName = "REMOVE"
				delete(live, k)
			default:
				rec.EventName = map[bool]string{true: "MODIFY", false: "INSERT"}[live[k]]
				live[k] = true
				rec.Change.NewImage = json.RawMessage(fmt.Sprintf(
					`{"pk":{"S":"order#%05d"},"status":{"S":%q},"total":{"N":"%d.%02d"},"items":{"L":[{"M":{"sku":{"S":"sku-%d"},"qty":{"N":"%d"}}}]},"tags":{"SS":["demo","second-%d"]}}`,
					k, []string{"new", "paid", "shipped"}[rng.Intn(3)], rng.Intn(1000), rng.Intn(100), rng.Intn(50), 1+rng.Intn(5), s))
			}
			ev.Records = append(ev.Records, rec)
		}
		for start := 0; start < len(ev.Records); start += 100 {
			batch := stream.Event{Records: ev.Records[start:min(start+100, len(ev.Records))]}
			resp, err := h.Handle(ctx, batch)
			if err != nil {
				return err
			}
			if len(resp.BatchItemFailures) > 0 {
				return fmt.Errorf("stream writer reported %d failed records", len(resp.BatchItemFailures))
			}
		}
		end := time.Now()
		fmt.Fprintf(os.Stderr, "second %d: %d changes through the stream writer, %d items live\n", s+1, len(ev.Records), len(live))
		if s == *seconds/2-1 {
			mid, midCount = end.Truncate(time.Second), len(live)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"source": layout.TableLocation(*bucket, *prefix, *table).String(), "at": mid.UTC().Format(time.RFC3339), "itemsAtMiddle": midCount, "layout": *layoutName,
	})
}
