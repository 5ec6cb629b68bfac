package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/smithy-go"

	"github.com/dynasnap/dynasnap/internal/fastget"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/progress"
	"github.com/dynasnap/dynasnap/internal/scan"
)

// MaxItemBytes is DynamoDB's item size limit; a larger object cannot be an
// item and could not be restored.
const MaxItemBytes = 400 * 1024

// BadObject is a version that is not a readable DynamoDB item.
type BadObject struct {
	Key       string `json:"key"`
	VersionID string `json:"versionId"`
	Reason    string `json:"reason"`
}

// errBadObject marks errors about one object's content, which
// --skip-bad-objects may skip; all others stop the run.
var errBadObject = errors.New("bad object")

type fetcher struct {
	reader  *fastget.Reader
	bucket  string
	skipBad bool
	filter  func(item.Item) (bool, error)
	fetched *progress.Counter

	filtered atomic.Int64
	mu       sync.Mutex
	bad      []BadObject
}

func (f *fetcher) loop(ctx context.Context, q <-chan *task) error {
	var buf bytes.Buffer
	for t := range q {
		t.body, t.err = f.fetch(ctx, t.entry, &buf)
		if t.err == nil {
			t.skip, t.err = f.keep(t.body)
		}
		if errors.Is(t.err, errBadObject) && f.skipBad {
			f.mu.Lock()
			f.bad = append(f.bad, BadObject{Key: t.entry.Key, VersionID: t.entry.VersionID, Reason: t.err.Error()})
			f.mu.Unlock()
			t.err, t.skip = nil, true
		}
		close(t.done)
		if t.err != nil {
			return t.err
		}
		f.fetched.Add(1)
	}
	return nil
}

// keep applies the filter; it reports skip=true for a filtered-out item.
func (f *fetcher) keep(body []byte) (skip bool, err error) {
	if f.filter == nil {
		return false, nil
	}
	it, err := item.Unmarshal(body)
	if err != nil {
		return false, err
	}
	ok, err := f.filter(it)
	if err != nil {
		return false, err
	}
	if !ok {
		f.filtered.Add(1)
	}
	return !ok, nil
}

// fetch gets one version and re-encodes it as canonical compact DynamoDB
// JSON; an object that is not a DynamoDB item is an error naming it.
func (f *fetcher) fetch(ctx context.Context, e scan.Entry, buf *bytes.Buffer) ([]byte, error) {
	// Named only in errors: formatting it for every item would cost the hot path.
	where := func() string {
		return fmt.Sprintf("s3://%s/%s version %s (%s)", f.bucket, e.Key, e.VersionID, e.LastModified.UTC().Format(time.RFC3339))
	}
	if err := f.reader.Read(ctx, f.bucket, e.Key, e.VersionID, buf); err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "InvalidObjectState" {
			return nil, fmt.Errorf("%w: %s is in an archive storage class (Glacier / Deep Archive) and cannot be read until restored: "+
				"aws s3api restore-object --bucket %s --key %s --version-id %s --restore-request Days=7; then run the snapshot again (or pass --skip-bad-objects)",
				errBadObject, where(), f.bucket, e.Key, e.VersionID)
		}
		return nil, fmt.Errorf("get %s: %w", where(), err)
	}
	switch {
	case buf.Len() == 0:
		return nil, fmt.Errorf("%w: %s is empty", errBadObject, where())
	case buf.Len() > MaxItemBytes*2:
		// DynamoDB counts attribute names and values, not JSON; the JSON
		// of a 400 KB item is larger, but not twice as large.
		return nil, fmt.Errorf("%w: %s is %d bytes, far over DynamoDB's 400 KB item limit", errBadObject, where(), buf.Len())
	}
	it, err := item.Unmarshal(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a DynamoDB item: %v", errBadObject, where(), err)
	}
	if n := item.Size(it); n > MaxItemBytes {
		return nil, fmt.Errorf("%w: %s holds an item of %d bytes, over DynamoDB's 400 KB limit", errBadObject, where(), n)
	}
	return item.Marshal(it)
}
