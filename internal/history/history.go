// Package history reads every version of one item from the backup: when it
// was written and what each change did to its attributes. It is the audit
// log of an item.
package history

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/dynasnap/dynasnap/internal/fastget"
	"github.com/dynasnap/dynasnap/internal/item"
	"github.com/dynasnap/dynasnap/internal/itemcmp"
	"github.com/dynasnap/dynasnap/internal/versions"
)

// Event names, as DynamoDB Streams names them.
const (
	Insert = "INSERT"
	Modify = "MODIFY"
	Remove = "REMOVE"
)

// Version is one change of the item.
type Version struct {
	Time      time.Time       `json:"time"`
	VersionID string          `json:"versionId"`
	Event     string          `json:"event"`
	Latest    bool            `json:"latest"`
	Added     []string        `json:"added,omitempty"`
	Removed   []string        `json:"removed,omitempty"`
	Changed   []string        `json:"changed,omitempty"`
	Image     json.RawMessage `json:"image,omitempty"` // the item after the change; absent for REMOVE

	item item.Item
}

// Item returns the decoded image (nil for a REMOVE).
func (v *Version) Item() item.Item { return v.item }

// Of returns every version of the object, newest first, each compared with
// the one before it. Bodies are fetched concurrently.
func Of(ctx context.Context, client *s3.Client, bucket, objectKey string) ([]Version, error) {
	entries, err := versions.Key(ctx, client, bucket, objectKey)
	if err != nil {
		return nil, err
	}
	out := make([]Version, len(entries))
	reader := fastget.NewReader(client)
	defer reader.Close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, e := range entries {
		out[i] = Version{Time: e.LastModified.UTC(), VersionID: e.VersionID, Latest: e.IsLatest}
		if e.IsDelete {
			out[i].Event = Remove
			continue
		}
		g.Go(func() error {
			it, err := versions.Fetch(gctx, reader, bucket, e)
			if err != nil {
				return err
			}
			b, err := item.Marshal(it)
			if err != nil {
				return err
			}
			out[i].item, out[i].Image = it, b
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	Compare(out)
	return out, nil
}

// Compare fills each version's event and changed attributes from the
// version listed after it (the one before it in time).
func Compare(vs []Version) {
	for i := range vs {
		v := &vs[i]
		if v.Event == Remove {
			continue
		}
		var prev item.Item
		if i+1 < len(vs) {
			prev = vs[i+1].item
		}
		if prev == nil {
			v.Event = Insert
			for name := range v.item {
				v.Added = append(v.Added, name)
			}
			sort.Strings(v.Added)
			continue
		}
		v.Event = Modify
		v.Added, v.Removed, v.Changed = itemcmp.Changes(prev, v.item)
	}
}
