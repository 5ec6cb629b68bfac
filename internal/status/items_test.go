package status

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/dynasnap/dynasnap/internal/layout"
)

// versionLister is a bucket of versions listed in pages of pageSize, as
// ListObjectVersions does (KeyMarker: keys after it).
type versionLister struct {
	S3API
	keys     map[string]time.Time
	pageSize int
	calls    int
}

func (f *versionLister) ListObjectVersions(_ context.Context, in *s3.ListObjectVersionsInput, _ ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	f.calls++
	var keys []string
	for k := range f.keys {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) && k > aws.ToString(in.KeyMarker) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := &s3.ListObjectVersionsOutput{}
	for i, k := range keys {
		if i == f.pageSize {
			out.IsTruncated, out.NextKeyMarker, out.NextVersionIdMarker = aws.Bool(true), aws.String(keys[i-1]), aws.String("v")
			break
		}
		out.Versions = append(out.Versions, types.ObjectVersion{Key: aws.String(k), LastModified: aws.Time(f.keys[k])})
	}
	return out, nil
}

// A folder that fits half the page budget is exact; a larger one is
// sampled over the id space and finds a change far from its first keys,
// within the budget.
func TestNewestItemSampling(t *testing.T) {
	base := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	loc := layout.Location{Bucket: "b", Prefix: "p/orders"}
	f := &versionLister{keys: map[string]time.Time{}, pageSize: 10}
	for i := range 200 {
		f.keys[loc.Dir()+fmt.Sprintf("%04x%060d", i*0x10000/200, 0)] = base
	}
	newest := base.Add(time.Hour)
	f.keys[loc.Dir()+"8001"+strings.Repeat("0", 60)] = newest // just after the second of three sample points
	rd := reader{o: Options{ItemPages: 6, Now: newest.Add(time.Minute)}, s3: f, ts: &TableStatus{}}
	rd.newestItem(t.Context(), loc)
	if rd.ts.NewestChange == nil || !rd.ts.NewestChange.Equal(newest) || rd.ts.NewestExact || f.calls != 6 {
		t.Fatalf("sampled: newest %v exact %v in %d calls", rd.ts.NewestChange, rd.ts.NewestExact, f.calls)
	}

	small := &versionLister{keys: map[string]time.Time{loc.Dir() + "aa": base, loc.Dir() + "bb": newest}, pageSize: 10}
	rd = reader{o: Options{ItemPages: 6, Now: newest}, s3: small, ts: &TableStatus{}}
	rd.newestItem(t.Context(), loc)
	if !rd.ts.NewestExact || !rd.ts.NewestChange.Equal(newest) || small.calls != 1 || rd.ts.Layout != "items" {
		t.Fatalf("small folder: %+v in %d calls", rd.ts, small.calls)
	}
}
