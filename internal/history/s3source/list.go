// Package s3source is the backup history read from S3, or any server that
// speaks its API with real versioning: ListObjectVersions read in document
// order, GetObject by version through the lean reader of fastget.
package s3source

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/dynasnap/dynasnap/internal/fastget"
	"github.com/dynasnap/dynasnap/internal/history"
)

// Source is one bucket's history.
type Source struct {
	client *s3.Client
	bucket string
	reader *fastget.Reader
	js     journalState
}

var (
	_ history.Source     = (*Source)(nil)
	_ history.MetaSource = (*Source)(nil)
)

// New reads bucket through client, which expects no bucket owner (NewIn
// takes the owner from the clients' configuration). Close it when done.
func New(client *s3.Client, bucket string) *Source { return newSource(client, bucket, "") }

func newSource(client *s3.Client, bucket, owner string) *Source {
	return &Source{client: client, bucket: bucket, reader: fastget.NewReader(client, owner)}
}

// Close drops the reader's idle connections.
func (s *Source) Close() { s.reader.Close() }

// Bucket names the bucket.
func (s *Source) Bucket() string { return s.bucket }

// Read gets one version's body.
func (s *Source) Read(ctx context.Context, key, versionID string, buf *bytes.Buffer) error {
	err := s.reader.Read(ctx, s.bucket, key, versionID, buf)
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "InvalidObjectState" {
		return fmt.Errorf("%w: %w", history.ErrArchived, err)
	}
	return err
}

// Meta reads one version's user metadata (HeadObject): how a tombstone is
// told (history.ResolveExpired, docs/DESIGN.md §2.4).
func (s *Source) Meta(ctx context.Context, key, versionID string) (map[string]string, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), VersionId: aws.String(versionID)})
	if err != nil {
		return nil, err
	}
	return out.Metadata, nil
}

// Check gives clear errors for a missing or unversioned bucket, before
// anything is listed.
func (s *Source) Check(ctx context.Context) error {
	v, err := s.client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchBucket") {
			return fmt.Errorf("source bucket %s does not exist", s.bucket)
		}
		return fmt.Errorf("check versioning of bucket %s: %w", s.bucket, err)
	}
	if v.Status != "Enabled" && v.Status != "Suspended" {
		return fmt.Errorf("source bucket %s does not have versioning enabled, so it holds no history to read; enable it (aws s3api put-bucket-versioning --bucket %s --versioning-configuration Status=Enabled) before the stream writer runs", s.bucket, s.bucket)
	}
	return nil
}

// List fetches one page of versions under prefix, after the marker. The
// SDK's typed output splits versions and delete markers into two slices
// and so loses their order; a deserialize middleware reads the XML in
// document order instead.
func (s *Source) List(ctx context.Context, prefix string, after history.Marker, maxKeys int32) (*history.Page, error) {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)}
	if after.Key != "" {
		in.KeyMarker = aws.String(after.Key)
		if after.VersionID != "" {
			in.VersionIdMarker = aws.String(after.VersionID)
		}
	}
	if maxKeys > 0 {
		in.MaxKeys = aws.Int32(maxKeys)
	}
	var page *history.Page
	var parseErr error
	capture := func(st *middleware.Stack) error {
		return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("dynasnapOrderedVersions",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				if err != nil {
					return out, md, err
				}
				resp, ok := out.RawResponse.(*smithyhttp.Response)
				if !ok || resp.StatusCode < 200 || resp.StatusCode > 299 {
					return out, md, err
				}
				body, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if rerr != nil {
					return out, md, fmt.Errorf("read list response: %w", rerr)
				}
				var fast bool
				if page, fast, parseErr = parseVersionsFast(body); !fast {
					page, parseErr = parseVersions(body)
				}
				// The SDK's parser would only build the unordered typed
				// output again; hand it an empty result instead.
				resp.Body = io.NopCloser(bytes.NewReader([]byte("<ListVersionsResult></ListVersionsResult>")))
				return out, md, nil
			}), middleware.After)
	}
	if _, err := s.client.ListObjectVersions(ctx, in, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, capture)
	}); err != nil {
		return nil, fmt.Errorf("list versions s3://%s/%s after %q: %w", s.bucket, prefix, after.Key, err)
	}
	if parseErr != nil {
		return nil, fmt.Errorf("list versions s3://%s/%s after %q: %w", s.bucket, prefix, after.Key, parseErr)
	}
	if page == nil {
		return nil, fmt.Errorf("list versions s3://%s/%s: no response body captured", s.bucket, prefix)
	}
	return page, nil
}

type xmlEntry struct {
	Key          string `xml:"Key"`
	VersionID    string `xml:"VersionId"`
	IsLatest     bool   `xml:"IsLatest"`
	LastModified string `xml:"LastModified"`
	Size         int64  `xml:"Size"`
	ETag         string `xml:"ETag"`
}

// setPageField sets one of the page's own fields of a ListVersionsResult,
// for both parsers. Keys are asked for unencoded, so an EncodingType
// means a server that did not listen: its keys would be misread.
func setPageField(p *history.Page, name, v string) error {
	switch name {
	case "IsTruncated":
		p.IsTruncated = v == "true"
	case "NextKeyMarker":
		p.NextKeyMarker = v
	case "NextVersionIdMarker":
		p.NextVersionIDMarker = v
	case "EncodingType":
		if v != "" {
			return fmt.Errorf("parse list response: unexpected key encoding %q", v)
		}
	}
	return nil
}

func parseVersions(body []byte) (*history.Page, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	p := &history.Page{}
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse list response: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth != 2 {
				continue
			}
			switch t.Name.Local {
			case "Version", "DeleteMarker":
				var x xmlEntry
				if err := dec.DecodeElement(&x, &t); err != nil {
					return nil, fmt.Errorf("parse list response %s: %w", t.Name.Local, err)
				}
				depth--
				lm, err := time.Parse(time.RFC3339Nano, x.LastModified)
				if err != nil {
					return nil, fmt.Errorf("parse list response: key %q version %q: bad LastModified %q", x.Key, x.VersionID, x.LastModified)
				}
				p.Entries = append(p.Entries, history.Entry{Key: x.Key, VersionID: x.VersionID, LastModified: lm,
					IsDelete: t.Name.Local == "DeleteMarker", IsLatest: x.IsLatest, Size: x.Size, ETag: strings.Trim(x.ETag, `"`)})
			case "IsTruncated", "NextKeyMarker", "NextVersionIdMarker", "EncodingType":
				var s string
				if err := dec.DecodeElement(&s, &t); err != nil {
					return nil, fmt.Errorf("parse list response %s: %w", t.Name.Local, err)
				}
				depth--
				if err := setPageField(p, t.Name.Local, s); err != nil {
					return nil, err
				}
			}
		case xml.EndElement:
			depth--
		}
	}
	return p, nil
}

// Open reads bucket through client, after checking that it exists and
// keeps versions.
func Open(ctx context.Context, client *s3.Client, bucket string) (*Source, error) {
	return checked(ctx, New(client, bucket))
}

// checked is s once its bucket passes Check; s is closed if it does not.
func checked(ctx context.Context, s *Source) (*Source, error) {
	if err := s.Check(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
