package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/dynasnap/dynasnap/internal/awserr"
	"github.com/dynasnap/dynasnap/internal/layout"
)

// S3 is a store under an S3 prefix. Large files go up as multipart uploads
// while they are written, so memory holds one part, not the file.
type S3 struct {
	client *s3.Client
	// forBucket, when set, gives the client for the bucket's region (and
	// looks that region up on first use); client is then unused.
	forBucket func(ctx context.Context, bucket string) (*s3.Client, error)
	loc       layout.Location
	opts      Options
}

// cl is the client for the store's bucket.
func (s *S3) cl(ctx context.Context) (*s3.Client, error) {
	if s.forBucket == nil {
		return s.client, nil
	}
	c, err := s.forBucket(ctx, s.loc.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3://%s: %w", s.loc.Bucket, err)
	}
	return c, nil
}

func NewS3(client *s3.Client, loc layout.Location, opts Options) (*S3, error) {
	switch opts.SSE {
	case "", "AES256":
		if opts.SSEKMSKeyID != "" {
			return nil, fmt.Errorf("--sse-kms-key-id needs --sse aws:kms")
		}
	case "aws:kms":
	default:
		return nil, fmt.Errorf("--sse %q: want AES256 or aws:kms", opts.SSE)
	}
	if opts.PartSize <= 0 {
		// S3's minimum: a snapshot writes many parts at once, each
		// holding one part in memory.
		opts.PartSize = 5 << 20
	}
	return &S3{client: client, loc: loc, opts: opts}, nil
}

func (s *S3) Key(name string) string { return s.loc.Key(name) }
func (s *S3) URL(name string) string { return "s3://" + s.loc.Bucket + "/" + s.Key(name) }

func (s *S3) Put(ctx context.Context, name string, data []byte) error {
	_, err := s.put(ctx, name, data)
	return err
}

// put writes one object and returns its ETag, without quotes.
func (s *S3) put(ctx context.Context, name string, data []byte) (string, error) {
	in := &s3.PutObjectInput{Bucket: aws.String(s.loc.Bucket), Key: aws.String(s.Key(name)), Body: bytes.NewReader(data)}
	if s.opts.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.opts.SSE)
	}
	if s.opts.SSEKMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(s.opts.SSEKMSKeyID)
	}
	cl, err := s.cl(ctx)
	if err != nil {
		return "", err
	}
	out, err := cl.PutObject(ctx, in)
	if err != nil {
		return "", fmt.Errorf("put %s: %w", s.URL(name), err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`), nil
}

func (s *S3) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	cl, err := s.cl(ctx)
	if err != nil {
		return nil, err
	}
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.loc.Bucket), Key: aws.String(s.Key(name))})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("open %s: %w", s.URL(name), ErrNotExist)
		}
		return nil, fmt.Errorf("open %s: %w", s.URL(name), err)
	}
	return out.Body, nil
}

func (s *S3) Exists(ctx context.Context, name string) (bool, error) {
	cl, err := s.cl(ctx)
	if err != nil {
		return false, err
	}
	_, err = cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.loc.Bucket), Key: aws.String(s.Key(name))})
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("head %s: %w", s.URL(name), err)
}

func (s *S3) List(ctx context.Context, dir string) ([]string, error) {
	var out []string
	if err := s.each(ctx, dir, func(name string, _ types.Object) { out = append(out, name) }); err != nil {
		return nil, err
	}
	return out, nil
}

// each calls fn with every object under dir ("" for all), by name as List
// gives it.
func (s *S3) each(ctx context.Context, dir string, fn func(name string, o types.Object)) error {
	prefix := s.loc.Dir()
	if dir != "" {
		prefix = s.Key(dir) + "/"
	}
	cl, err := s.cl(ctx)
	if err != nil {
		return err
	}
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String(s.loc.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.loc.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			fn(strings.TrimPrefix(aws.ToString(o.Key), s.loc.Dir()), o)
		}
	}
	return nil
}

func (s *S3) Remove(ctx context.Context, name string) error {
	cl, err := s.cl(ctx)
	if err != nil {
		return err
	}
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.loc.Bucket), Key: aws.String(s.Key(name))}); err != nil {
		return fmt.Errorf("remove %s: %w", s.URL(name), err)
	}
	return nil
}

func isNotFound(err error) bool {
	var nk *types.NoSuchKey
	var nf *types.NotFound
	return awserr.IsNotFound(err) || errors.As(err, &nk) || errors.As(err, &nf)
}

type s3File struct {
	s        *S3
	name     string
	buf      bytes.Buffer
	uploadID string
	parts    []types.CompletedPart
	done     bool
	ctx      context.Context
	etag     string
}

// ETag is the committed object's ETag, without quotes: S3's, as AWS's
// exports record it in manifest-files.json.
func (f *s3File) ETag() string { return f.etag }

func (s *S3) Create(ctx context.Context, name string) (File, error) {
	return &s3File{s: s, name: name, ctx: ctx}, nil
}

func (f *s3File) Write(p []byte) (int, error) {
	n, _ := f.buf.Write(p)
	if int64(f.buf.Len()) >= f.s.opts.PartSize {
		if err := f.flushPart(f.ctx); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func (f *s3File) flushPart(ctx context.Context) error {
	s := f.s
	key := s.Key(f.name)
	client, err := s.cl(ctx)
	if err != nil {
		return err
	}
	if f.uploadID == "" {
		in := &s3.CreateMultipartUploadInput{Bucket: aws.String(s.loc.Bucket), Key: aws.String(key)}
		if s.opts.SSE != "" {
			in.ServerSideEncryption = types.ServerSideEncryption(s.opts.SSE)
		}
		if s.opts.SSEKMSKeyID != "" {
			in.SSEKMSKeyId = aws.String(s.opts.SSEKMSKeyID)
		}
		out, err := client.CreateMultipartUpload(ctx, in)
		if err != nil {
			return fmt.Errorf("start upload %s: %w", s.URL(f.name), err)
		}
		f.uploadID = aws.ToString(out.UploadId)
	}
	num := int32(len(f.parts) + 1)
	out, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(s.loc.Bucket), Key: aws.String(key),
		UploadId: aws.String(f.uploadID), PartNumber: aws.Int32(num), Body: bytes.NewReader(f.buf.Bytes())})
	if err != nil {
		return fmt.Errorf("upload part %d of %s: %w", num, s.URL(f.name), err)
	}
	f.parts = append(f.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
	f.buf.Reset()
	return nil
}

func (f *s3File) Commit(ctx context.Context) error {
	if f.uploadID == "" {
		f.done = true
		var err error
		f.etag, err = f.s.put(ctx, f.name, f.buf.Bytes())
		return err
	}
	if f.buf.Len() > 0 {
		if err := f.flushPart(ctx); err != nil {
			f.Abort()
			return err
		}
	}
	client, err := f.s.cl(ctx)
	if err != nil {
		f.Abort()
		return err
	}
	out, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(f.s.loc.Bucket),
		Key: aws.String(f.s.Key(f.name)), UploadId: aws.String(f.uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: f.parts}})
	if err != nil {
		f.Abort()
		return fmt.Errorf("complete upload %s: %w", f.s.URL(f.name), err)
	}
	f.etag = strings.Trim(aws.ToString(out.ETag), `"`)
	f.done = true
	return nil
}

func (f *s3File) Abort() {
	if f.done {
		return
	}
	f.done = true
	if f.uploadID != "" {
		// Detached from the caller's context: the caller may be cancelled,
		// and an abandoned upload keeps costing storage.
		ctx := context.WithoutCancel(f.ctx)
		client, err := f.s.cl(ctx)
		if err != nil {
			return
		}
		client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(f.s.loc.Bucket), Key: aws.String(f.s.Key(f.name)), UploadId: aws.String(f.uploadID)})
	}
}

// Location is the bucket and prefix of the store.
func (s *S3) Location() (bucket, prefix string) { return s.loc.Bucket, s.loc.Prefix }

// Sub is the store of the folder dir inside this one.
func (s *S3) Sub(dir string) Store {
	return &S3{client: s.client, forBucket: s.forBucket, loc: s.loc.Child(dir), opts: s.opts}
}
