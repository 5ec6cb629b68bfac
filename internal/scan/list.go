// Package scan lists the object versions of a table's backup in the order the
// server lists them, splits the key space into ranges listed concurrently,
// and folds each key's versions to its state at a point in time.
package scan

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Entry is one version or delete marker, as listed.
type Entry struct {
	Key          string
	VersionID    string
	LastModified time.Time
	IsDelete     bool
	IsLatest     bool
	Size         int64
}

// Page is one ListObjectVersions response with versions and delete markers
// in document order: the SDK's typed output splits them into two slices and
// so loses the order of a put and a delete made in the same second.
type Page struct {
	Entries             []Entry
	IsTruncated         bool
	NextKeyMarker       string
	NextVersionIDMarker string
}

// ListPage fetches one page of versions under prefix, starting after the
// markers.
func ListPage(ctx context.Context, client *s3.Client, bucket, prefix, keyMarker, versionMarker string, maxKeys int32) (*Page, error) {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	if keyMarker != "" {
		in.KeyMarker = aws.String(keyMarker)
		if versionMarker != "" {
			in.VersionIdMarker = aws.String(versionMarker)
		}
	}
	if maxKeys > 0 {
		in.MaxKeys = aws.Int32(maxKeys)
	}
	var page *Page
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
	if _, err := client.ListObjectVersions(ctx, in, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, capture)
	}); err != nil {
		return nil, fmt.Errorf("list versions s3://%s/%s after %q: %w", bucket, prefix, keyMarker, err)
	}
	if parseErr != nil {
		return nil, fmt.Errorf("list versions s3://%s/%s after %q: %w", bucket, prefix, keyMarker, parseErr)
	}
	if page == nil {
		return nil, fmt.Errorf("list versions s3://%s/%s: no response body captured", bucket, prefix)
	}
	return page, nil
}

type xmlEntry struct {
	Key          string `xml:"Key"`
	VersionID    string `xml:"VersionId"`
	IsLatest     bool   `xml:"IsLatest"`
	LastModified string `xml:"LastModified"`
	Size         int64  `xml:"Size"`
}

func parseVersions(body []byte) (*Page, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	p := &Page{}
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
				p.Entries = append(p.Entries, Entry{Key: x.Key, VersionID: x.VersionID, LastModified: lm,
					IsDelete: t.Name.Local == "DeleteMarker", IsLatest: x.IsLatest, Size: x.Size})
			case "IsTruncated", "NextKeyMarker", "NextVersionIdMarker", "EncodingType":
				var s string
				if err := dec.DecodeElement(&s, &t); err != nil {
					return nil, fmt.Errorf("parse list response %s: %w", t.Name.Local, err)
				}
				depth--
				switch t.Name.Local {
				case "IsTruncated":
					p.IsTruncated = s == "true"
				case "NextKeyMarker":
					p.NextKeyMarker = s
				case "NextVersionIdMarker":
					p.NextVersionIDMarker = s
				case "EncodingType":
					if s != "" {
						return nil, fmt.Errorf("parse list response: unexpected key encoding %q", s)
					}
				}
			}
		case xml.EndElement:
			depth--
		}
	}
	return p, nil
}
