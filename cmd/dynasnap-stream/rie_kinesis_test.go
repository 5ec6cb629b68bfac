package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/journal"
	"github.com/dynasnap/dynasnap/internal/testsupport/testenv"
)

// kchange is one change of the model: what DynamoDB did, at its time.
type kchange struct {
	key    string // canonical Keys
	event  string
	image  string // canonical NewImage; "" for a REMOVE
	micros int64
	ttl    bool
}

// kinesisModel makes n changes of a few keys, times strictly increasing
// (microseconds apart, as DynamoDB stamps them), and the final state the
// changes made in order leave: object id -> image.
func kinesisModel(rng *rand.Rand, n int) ([]kchange, map[string]string) {
	state := map[string]string{}
	var out []kchange
	t := time.Now().Add(-time.Minute).UnixMicro()
	for i := range n {
		t += 1 + rng.Int64N(5000)
		k := fmt.Sprintf(`{"pk":{"S":"user#%d"}}`, rng.IntN(6))
		c := kchange{key: k, micros: t}
		_, exists := state[k]
		switch {
		case !exists:
			c.event = "INSERT"
		case rng.IntN(3) == 0:
			c.event, c.ttl = "REMOVE", rng.IntN(2) == 0
		default:
			c.event = "MODIFY"
		}
		if c.event != "REMOVE" {
			c.image = fmt.Sprintf(`{"n":{"N":"%d"},"pk":%s}`, i, k[len(`{"pk":`):len(k)-1])
			state[k] = c.image
		} else {
			delete(state, k)
		}
		out = append(out, c)
	}
	want := map[string]string{}
	for k, img := range state {
		it, _ := item.Unmarshal([]byte(k))
		id, _ := item.KeyID(it)
		want[id] = img
	}
	return out, want
}

// kinesisEvent is changes as Lambda delivers them from Kinesis Data
// Streams for DynamoDB: base64 data holding each change record as JSON.
func kinesisEvent(t *testing.T, table string, changes []kchange, seq *int) []byte {
	t.Helper()
	var recs []map[string]any
	for _, c := range changes {
		ddb := map[string]any{"ApproximateCreationDateTime": c.micros, "ApproximateCreationDateTimePrecision": "MICROSECOND",
			"Keys": json.RawMessage(c.key), "SizeBytes": 100}
		if c.image != "" {
			ddb["NewImage"] = json.RawMessage(c.image)
		}
		var ui any
		if c.ttl {
			ui = map[string]string{"type": "Service", "principalId": "dynamodb.amazonaws.com"}
		}
		data, _ := json.Marshal(map[string]any{"awsRegion": "us-east-1", "dynamodb": ddb, "eventID": fmt.Sprintf("e-%d", c.micros),
			"eventName": c.event, "recordFormat": "application/json", "tableName": table, "userIdentity": ui, "eventSource": "aws:dynamodb"})
		*seq++
		sn := fmt.Sprintf("4959033827149025660855969253836157109592157598913658%04d", *seq)
		recs = append(recs, map[string]any{
			"kinesis": map[string]any{"kinesisSchemaVersion": "1.0", "partitionKey": "pk", "sequenceNumber": sn,
				"data": base64.StdEncoding.EncodeToString(data), "approximateArrivalTimestamp": float64(c.micros)/1e6 + 0.5},
			"eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": "shardId-000000000000:" + sn,
			"eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::123456789012:role/dynasnap",
			"awsRegion": "us-east-1", "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/orders-cdc"})
	}
	b, err := json.Marshal(map[string]any{"Records": recs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKinesisUnderRIE: the real bootstrap under the Lambda emulator with
// DYNASNAP_SOURCE=kinesis, in both layouts. The same changes delivered in
// order, and delivered out of order with duplicates and redelivered
// batches, leave exactly the model's state; in the journal the two
// deliveries hold the same changes in the same order.
func TestKinesisUnderRIE(t *testing.T) {
	c := testenv.Clients(t)
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	bootstrap := buildBootstrap(t)
	rie := emulator(t)
	ctx := context.Background()
	for _, layout := range []string{"journal", "items"} {
		t.Run(layout, func(t *testing.T) {
			bucket := testenv.Bucket(t, c, true)
			var logs syncBuffer
			url := startRIE(t, rie, bootstrap, &logs, map[string]string{
				"DYNASNAP_BUCKET": bucket, "DYNASNAP_PREFIX": "backups", "DYNASNAP_LAYOUT": layout,
				"DYNASNAP_SOURCE": "kinesis", "DYNASNAP_RECORD_DEFINITION": "false",
			})
			rng := rand.New(rand.NewPCG(7, uint64(len(layout))))
			changes, want := kinesisModel(rng, 80)
			seq := 0
			deliver := func(table string, batches [][]kchange) {
				t.Helper()
				for _, b := range batches {
					if resp := invoke(t, url, kinesisEvent(t, table, b, &seq)); len(resp.BatchItemFailures) != 0 {
						t.Fatalf("failures %+v; logs:\n%s", resp.BatchItemFailures, logs.String())
					}
				}
			}
			deliver("InOrder", chunks(changes, 10))

			// Out of order and repeated: a third of the changes twice, and
			// every fourth batch delivered again. The journal takes any
			// order across batches; the per-item layout any order within a
			// batch and repeats of changes already written (DESIGN §2.10).
			var shuffled [][]kchange
			if layout == "journal" {
				all := append(slices.Clone(changes), pick(rng, changes, 3)...)
				rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
				shuffled = chunks(all, 10)
			} else {
				for _, b := range chunks(changes, 10) {
					b = append(slices.Clone(b), pick(rng, b, 3)...)
					rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
					shuffled = append(shuffled, b)
				}
			}
			var withRepeats [][]kchange
			for i, b := range shuffled {
				withRepeats = append(withRepeats, b)
				if i%4 == 3 {
					withRepeats = append(withRepeats, shuffled[i-2])
				}
			}
			deliver("Shuffled", withRepeats)

			var inOrder, outOfOrder map[string]string
			if layout == "journal" {
				var histIn, histOut map[string]string
				inOrder, histIn = journalState(t, ctx, c.S3(), bucket, "backups/InOrder/")
				outOfOrder, histOut = journalState(t, ctx, c.S3(), bucket, "backups/Shuffled/")
				for id, h := range histIn {
					if histOut[id] != h {
						t.Errorf("%s: changes in order %s, out of order %s", id, h, histOut[id])
					}
				}
				if len(histIn) != len(histOut) {
					t.Errorf("%d keys in order, %d out of order", len(histIn), len(histOut))
				}
			} else {
				inOrder = itemsState(t, ctx, c.S3(), bucket, "backups/InOrder/")
				outOfOrder = itemsState(t, ctx, c.S3(), bucket, "backups/Shuffled/")
			}
			for name, got := range map[string]map[string]string{"in order": inOrder, "out of order": outOfOrder} {
				if len(got) != len(want) {
					t.Errorf("%s: %d items, the model %d", name, len(got), len(want))
				}
				for id, img := range want {
					if got[id] != img {
						t.Errorf("%s: %s is %s, the model %s", name, id, got[id], img)
					}
				}
			}
			if !logs.waitFor(`"source":"kinesis"`) {
				t.Errorf("start log without the source:\n%s", logs.String())
			}
		})
	}
}

func chunks(cs []kchange, n int) [][]kchange {
	var out [][]kchange
	for len(cs) > 0 {
		m := min(n, len(cs))
		out = append(out, cs[:m])
		cs = cs[m:]
	}
	return out
}

// pick returns about one in every n of cs.
func pick(rng *rand.Rand, cs []kchange, n int) []kchange {
	var out []kchange
	for _, c := range cs {
		if rng.IntN(n) == 0 {
			out = append(out, c)
		}
	}
	return out
}

// journalState is a journal's final state (id -> image) and each key's
// changes, as its reader orders them (duplicates dropped).
func journalState(t *testing.T, ctx context.Context, client journal.S3API, bucket, dir string) (map[string]string, map[string]string) {
	t.Helper()
	jb := &journal.S3Bucket{Client: client, Bucket: bucket}
	st, err := journal.LoadState(ctx, jb, dir)
	if err != nil {
		t.Fatal(err)
	}
	state, hist := map[string]string{}, map[string]string{}
	err = (&journal.Reader{Bucket: jb}).MergeState(ctx, st, "", "", nil, &journal.ReadStats{}, func(g []journal.Record, _ time.Time) error {
		var s []string
		for _, r := range g {
			s = append(s, r.Event+":"+r.Seq+":"+fmt.Sprint(r.TTL, r.TimeMs))
		}
		hist[g[0].ID] = strings.Join(s, " ")
		if last := g[len(g)-1]; !last.IsDelete() {
			state[g[0].ID] = string(last.NewImage)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return state, hist
}

// itemsState is a per-item backup's current images: id -> image.
func itemsState(t *testing.T, ctx context.Context, client *s3.Client, bucket, dir string) map[string]string {
	t.Helper()
	out, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(dir)})
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, v := range out.Versions {
		if !aws.ToBool(v.IsLatest) {
			continue
		}
		g, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: v.Key})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(g.Body)
		g.Body.Close()
		state[strings.TrimPrefix(aws.ToString(v.Key), dir)] = string(b)
	}
	return state
}
