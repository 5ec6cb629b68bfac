package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dynasnap/dynasnap/internal/item"
)

// MaxItemBytes is DynamoDB's item size limit; a larger object cannot be an
// item and could not be restored.
const MaxItemBytes = 400 * 1024

// ErrBadObject marks errors about one version's content (corrupt, empty,
// too large, archived), which a walk with SkipBad skips; all others stop it.
var ErrBadObject = errors.New("bad object")

// ErrArchived is what a Source returns for a version in an archive storage
// class that must be restored before it can be read.
var ErrArchived = errors.New("archived")

// BadObject is a version that is not a readable DynamoDB item.
type BadObject struct {
	Key       string `json:"key"`
	VersionID string `json:"versionId"`
	Reason    string `json:"reason"`
}

// Version is a version read and decoded.
type Version struct {
	Entry
	// Item is the decoded item; nil in a Canonical walk without WithItem
	// when the body already was canonical JSON.
	Item item.Item
	// JSON is the item as canonical compact DynamoDB JSON, when the walk
	// asked for it.
	JSON     []byte
	ItemSize int64 // the item's DynamoDB size (item.Size); Entry.Size is the object's
}

// ReadItem reads one version and decodes it as a DynamoDB item; a version
// that is not one is an ErrBadObject naming it.
func ReadItem(ctx context.Context, src Source, e Entry, buf *bytes.Buffer) (item.Item, error) {
	body, err := readBody(ctx, src, e, buf)
	if err != nil {
		return nil, err
	}
	it, _, err := decodeBody(src, e, body)
	return it, err
}

// where names a version in errors; formatted only for them, as it would
// cost the hot path.
func where(src Source, e Entry) string {
	return fmt.Sprintf("s3://%s/%s version %s (%s)", src.Bucket(), e.Key, e.VersionID, e.LastModified.UTC().Format(time.RFC3339))
}

// readBody reads one version's body: one in memory (a journal's) as it
// is (nothing writes to it), else into buf.
func readBody(ctx context.Context, src Source, e Entry, buf *bytes.Buffer) ([]byte, error) {
	if e.IsDelete {
		return nil, fmt.Errorf("%s is a delete marker, not an item", where(src, e))
	}
	body := e.Body
	if body == nil {
		if err := src.Read(ctx, e.Key, e.VersionID, buf); err != nil {
			if errors.Is(err, ErrArchived) {
				return nil, fmt.Errorf("%w: %s is in an archive storage class (Glacier / Deep Archive) and cannot be read until restored: "+
					"aws s3api restore-object --bucket %s --key %s --version-id %s --restore-request Days=7; then run again (or pass --skip-bad-objects)",
					ErrBadObject, where(src, e), src.Bucket(), e.Key, e.VersionID)
			}
			return nil, fmt.Errorf("get %s: %w", where(src, e), err)
		}
		body = buf.Bytes()
	}
	switch {
	case len(body) == 0:
		return nil, fmt.Errorf("%w: %s is empty", ErrBadObject, where(src, e))
	case len(body) > MaxItemBytes*2:
		// DynamoDB counts attribute names and values, not JSON; the JSON
		// of a 400 KB item is larger, but not twice as large.
		return nil, fmt.Errorf("%w: %s is %d bytes, far over DynamoDB's 400 KB item limit", ErrBadObject, where(src, e), len(body))
	}
	return body, nil
}

// decodeBody decodes a body read by readBody, and sizes the item.
func decodeBody(src Source, e Entry, body []byte) (item.Item, int64, error) {
	it, err := item.Unmarshal(body)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s is not a DynamoDB item: %v", ErrBadObject, where(src, e), err)
	}
	n := item.Size(it)
	return it, n, checkSize(src, e, n)
}

func checkSize(src Source, e Entry, n int64) error {
	if n > MaxItemBytes {
		return fmt.Errorf("%w: %s holds an item of %d bytes, over DynamoDB's 400 KB limit", ErrBadObject, where(src, e), n)
	}
	return nil
}
