package backup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/item"
)

// ReadAPI is what Current needs besides writing.
type ReadAPI interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

// State is what the bucket holds for one item now.
type State struct {
	Exists  bool // a current version that is not a delete marker
	Deleted bool // the current version is a delete marker
	// Seq is the stream sequence number of the newest version that is not a
	// delete marker (empty when none or when it was not written by the stream).
	Seq string
	// Stream is the event source ARN that version came from (empty when none
	// is recorded: backfill, older writers, other tools). A sequence number
	// says something only beside the stream it belongs to.
	Stream string
}

// Current reads the item's current state: one HEAD in the common case, and
// a listing plus a HEAD when the item was deleted, so that a replayed batch
// can tell which of its changes the bucket already holds.
func (w *Writer) Current(ctx context.Context, client ReadAPI, key item.Item) (State, error) {
	objKey, err := w.ObjectKey(key)
	if err != nil {
		return State{}, err
	}
	st, found, err := w.headState(ctx, client, objKey, "")
	if err != nil || found {
		st.Exists = found
		return st, err
	}
	out, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{
		Bucket: aws.String(w.loc.Bucket), Prefix: aws.String(objKey), MaxKeys: aws.Int32(100)})
	if err != nil {
		return State{}, fmt.Errorf("list versions of s3://%s/%s: %w", w.loc.Bucket, objKey, err)
	}
	for _, m := range out.DeleteMarkers {
		if aws.ToString(m.Key) == objKey && aws.ToBool(m.IsLatest) {
			st.Deleted = true
		}
	}
	if !st.Deleted {
		return st, nil
	}
	// The typed output lists a key's versions newest first (markers apart):
	// the first one is the last image before the delete.
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == objKey {
			var last State
			last, _, err = w.headState(ctx, client, objKey, aws.ToString(v.VersionId))
			st.Seq, st.Stream = last.Seq, last.Stream
			break
		}
	}
	return st, err
}

// headState reads the sequence number and stream recorded on a version (the
// current one when versionID is empty) and whether it exists.
func (w *Writer) headState(ctx context.Context, client ReadAPI, objKey, versionID string) (State, bool, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(w.loc.Bucket), Key: aws.String(objKey)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := client.HeadObject(ctx, in)
	if err != nil {
		var re *awshttp.ResponseError
		if errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusNotFound || re.HTTPStatusCode() == http.StatusMethodNotAllowed) {
			return State{}, false, nil
		}
		return State{}, false, fmt.Errorf("head s3://%s/%s: %w", w.loc.Bucket, objKey, err)
	}
	var st State
	for k, v := range out.Metadata {
		switch {
		case strings.EqualFold(k, MetaSequenceNumber):
			st.Seq = v
		case strings.EqualFold(k, MetaStreamARN):
			st.Stream = v
		}
	}
	return st, true, nil
}

// SeqLE reports whether stream sequence number a is at most b. Both are
// decimal strings of up to 40 digits, beyond int64.
func SeqLE(a, b string) bool {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a <= b
}
