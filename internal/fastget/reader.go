package fastget

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/retry"
)

// ReadAttempts bounds the GETs of one version whose body arrives cut short.
const ReadAttempts = 5

// readBackoff spaces those GETs: a body cut short is a dropped connection,
// over in a moment, so the waits stay well under a second.
var readBackoff = retry.Backoff{Base: 100 * time.Millisecond, Cap: time.Second}

// Reader reads object versions through a Getter when it can and the SDK
// when it cannot, and reads a version again when its body arrives cut
// short: the SDK has returned the response by then, so its retryer never
// sees that error. Snapshot, restore, diff and history all read this way.
type Reader struct {
	client *s3.Client
	lean   *Getter // nil: the SDK alone
}

// NewReader reads with client, and with a Getter where ForClient gives one;
// owner is the expected bucket owner client sends ("" for none).
func NewReader(client *s3.Client, owner string) *Reader {
	return &Reader{client: client, lean: ForClient(client, owner)}
}

// Lean is the Reader's Getter, nil when it reads through the SDK alone.
func (r *Reader) Lean() *Getter { return r.lean }

// Close drops the Getter's idle connections.
func (r *Reader) Close() {
	if r.lean != nil {
		r.lean.Close()
	}
}

// Read puts version versionID of bucket/key into buf. An error is the
// SDK's (S3 error types survive for errors.As), the context's, or the last
// body read's after ReadAttempts.
func (r *Reader) Read(ctx context.Context, bucket, key, versionID string, buf *bytes.Buffer) error {
	for attempt := 1; ; attempt++ {
		if r.lean != nil {
			err := r.lean.Get(ctx, bucket, key, versionID, buf)
			if err == nil || !errors.Is(err, ErrFallback) {
				return err
			}
		}
		out, err := r.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
		if err != nil {
			return err
		}
		buf.Reset()
		_, err = buf.ReadFrom(out.Body)
		out.Body.Close()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || attempt >= ReadAttempts {
			return fmt.Errorf("read body (attempt %d of %d): %w", attempt, ReadAttempts, err)
		}
		if err := retry.Sleep(ctx, readBackoff.Delay(attempt)); err != nil {
			return err
		}
	}
}
