package backuptest

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynasnap/dynasnap/internal/history"
	"github.com/dynasnap/dynasnap/internal/history/s3source"
)

// History reads one key's versions from a real S3 server, oldest first, in
// the server's listing order (delete markers in place), with bodies and
// metadata.
func History(ctx context.Context, client *s3.Client, bucket, key string) ([]Version, error) {
	src := s3source.New(client, bucket)
	defer src.Close()
	page, err := src.List(ctx, key, history.Marker{}, 1000)
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", key, err)
	}
	var out []Version
	for _, e := range page.Entries {
		if e.Key != key {
			continue
		}
		if e.IsDelete {
			out = append(out, Version{ID: e.VersionID, DeleteMarker: true})
			continue
		}
		g, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(e.VersionID)})
		if err != nil {
			return nil, fmt.Errorf("get %s version %s: %w", key, e.VersionID, err)
		}
		body, err := io.ReadAll(g.Body)
		g.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s version %s: %w", key, e.VersionID, err)
		}
		out = append(out, Version{ID: e.VersionID, Body: body, Meta: g.Metadata, ContentType: aws.ToString(g.ContentType)})
	}
	slices.Reverse(out)
	return out, nil
}
