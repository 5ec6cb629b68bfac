// Package backuptest is an in-memory versioned S3 bucket for unit tests of
// the writers: enough of PutObject, DeleteObject, CopyObject, HeadObject,
// ListObjectVersions and GetBucketVersioning, with per-key fault injection.
package backuptest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Version is one stored version or delete marker.
type Version struct {
	ID           string
	Body         []byte
	Meta         map[string]string
	ContentType  string
	DeleteMarker bool
}

// Bucket is a fake versioned bucket. Fail, when set, is asked before every
// write and makes it fail if it returns an error.
type Bucket struct {
	Name        string
	Unversioned bool

	mu       sync.Mutex
	versions map[string][]Version // oldest first
	next     int
	Fail     func(op, key string) error
	Calls    map[string]int
}

// New returns an empty versioned bucket.
func New(name string) *Bucket {
	return &Bucket{Name: name, versions: map[string][]Version{}, Calls: map[string]int{}}
}

// Versions returns a key's versions, oldest first.
func (b *Bucket) Versions(key string) []Version {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Version(nil), b.versions[key]...)
}

// Keys returns every key with at least one version.
func (b *Bucket) Keys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ks []string
	for k := range b.versions {
		ks = append(ks, k)
	}
	return ks
}

func (b *Bucket) fail(op, key string) error {
	b.Calls[op]++
	if b.Fail != nil {
		return b.Fail(op, key)
	}
	return nil
}

func (b *Bucket) add(key string, v Version) string {
	b.next++
	v.ID = "v" + strconv.Itoa(b.next)
	if b.Unversioned {
		b.versions[key] = nil
	}
	b.versions[key] = append(b.versions[key], v)
	return v.ID
}

func (b *Bucket) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	key := aws.ToString(in.Key)
	if err := b.fail("PutObject", key); err != nil {
		return nil, err
	}
	if aws.ToString(in.IfNoneMatch) == "*" {
		if vs := b.versions[key]; len(vs) > 0 && !vs[len(vs)-1].DeleteMarker {
			return nil, &smithy.GenericAPIError{Code: "PreconditionFailed", Message: "At least one of the pre-conditions you specified did not hold"}
		}
	}
	id := b.add(key, Version{Body: body, Meta: in.Metadata, ContentType: aws.ToString(in.ContentType)})
	return &s3.PutObjectOutput{VersionId: aws.String(id)}, nil
}

func (b *Bucket) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, _ ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := aws.ToString(in.Key)
	if err := b.fail("DeleteObject", key); err != nil {
		return nil, err
	}
	id := b.add(key, Version{DeleteMarker: true})
	return &s3.DeleteObjectOutput{VersionId: aws.String(id), DeleteMarker: aws.Bool(true)}, nil
}

// CopyObject copies a version within the bucket (CopySource "bucket/key",
// optionally "?versionId=", unescaped; the current version by default).
func (b *Bucket) CopyObject(ctx context.Context, in *s3.CopyObjectInput, _ ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := aws.ToString(in.Key)
	if err := b.fail("CopyObject", key); err != nil {
		return nil, err
	}
	src, id, _ := strings.Cut(aws.ToString(in.CopySource), "?versionId=")
	src, err := url.PathUnescape(src)
	if err != nil {
		return nil, err
	}
	_, srcKey, _ := strings.Cut(src, "/")
	vs := b.versions[srcKey]
	var v *Version
	for i := range vs {
		if (id == "" && i == len(vs)-1) || vs[i].ID == id {
			v = &vs[i]
		}
	}
	if v == nil || v.DeleteMarker {
		return nil, NotFound()
	}
	meta := v.Meta
	if in.MetadataDirective == s3types.MetadataDirectiveReplace {
		meta = in.Metadata
	}
	nid := b.add(key, Version{Body: append([]byte(nil), v.Body...), Meta: meta, ContentType: v.ContentType})
	return &s3.CopyObjectOutput{VersionId: aws.String(nid)}, nil
}

func (b *Bucket) HeadObject(ctx context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := aws.ToString(in.Key)
	if err := b.fail("HeadObject", key); err != nil {
		return nil, err
	}
	vs := b.versions[key]
	var v *Version
	if id := aws.ToString(in.VersionId); id != "" {
		for i := range vs {
			if vs[i].ID == id {
				v = &vs[i]
			}
		}
	} else if len(vs) > 0 {
		v = &vs[len(vs)-1]
	}
	if v == nil || v.DeleteMarker {
		return nil, NotFound()
	}
	return &s3.HeadObjectOutput{Metadata: v.Meta, VersionId: aws.String(v.ID), ContentLength: aws.Int64(int64(len(v.Body)))}, nil
}

func (b *Bucket) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, _ ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.fail("ListObjectVersions", aws.ToString(in.Prefix)); err != nil {
		return nil, err
	}
	out := &s3.ListObjectVersionsOutput{}
	for key, vs := range b.versions {
		if !strings.HasPrefix(key, aws.ToString(in.Prefix)) {
			continue
		}
		for i := len(vs) - 1; i >= 0; i-- {
			latest := aws.Bool(i == len(vs)-1)
			if vs[i].DeleteMarker {
				out.DeleteMarkers = append(out.DeleteMarkers, s3types.DeleteMarkerEntry{Key: aws.String(key), VersionId: aws.String(vs[i].ID), IsLatest: latest})
			} else {
				out.Versions = append(out.Versions, s3types.ObjectVersion{Key: aws.String(key), VersionId: aws.String(vs[i].ID), IsLatest: latest})
			}
		}
	}
	return out, nil
}

func (b *Bucket) GetBucketVersioning(ctx context.Context, in *s3.GetBucketVersioningInput, _ ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error) {
	if b.Unversioned {
		return &s3.GetBucketVersioningOutput{}, nil
	}
	return &s3.GetBucketVersioningOutput{Status: s3types.BucketVersioningStatusEnabled}, nil
}

// NotFound is the error the SDK returns for a 404 HEAD.
func NotFound() error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusNotFound}},
		Err:      &smithy.GenericAPIError{Code: "NotFound", Message: "Not Found"},
	}}
}

// ErrInjected is the error Fail functions usually return.
var ErrInjected = errors.New("injected fault")
