package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// ErrClaimed is returned by Claim when the claim file exists already, and
// by TakeOver when its holder may still be alive: another run holds the
// folder (or held it and was killed).
var ErrClaimed = errors.New("the folder is claimed by another run")

// Held is a claim file this process holds. Its holder must call Release
// (or remove the file) when done: locally the claim is an advisory lock
// (flock) on the open file, which the kernel also drops when the process
// dies, so a crashed run's claim can be told from a live one's.
type Held struct {
	// Prev is what the file held before a TakeOver (nil after Claim).
	Prev    []byte
	st      Store
	name    string
	f       *os.File // local claims only
	release sync.Once
}

// Claim creates name holding data, atomically and only if no file has
// that name: locally by an exclusive create (O_EXCL), on S3 by a
// conditional PutObject (If-None-Match: *, which S3 answers 412
// PreconditionFailed when the key exists). It returns ErrClaimed if the
// name exists. Two runs claiming one folder at once: exactly one wins.
func Claim(ctx context.Context, st Store, name string, data []byte) (*Held, error) {
	switch s := st.(type) {
	case *Local:
		return s.claim(name, data)
	case *S3:
		return s.claim(ctx, name, data)
	}
	// A store without an atomic create (none in this package): check
	// and write, which is racy but refuses the common case.
	if ok, err := st.Exists(ctx, name); err != nil {
		return nil, err
	} else if ok {
		return nil, ErrClaimed
	}
	return &Held{st: st, name: name}, st.Put(ctx, name, data)
}

// TakeOver takes the claim name when its holder is known to be gone: a
// local claim whose lock is free (the process that held it died). It
// returns the file's content in Held.Prev, for the caller to decide
// whether what it claims is its own to continue. On S3 a holder's liveness
// cannot be known, so it returns ErrClaimed; ErrNotExist when the claim
// has gone meanwhile.
func TakeOver(ctx context.Context, st Store, name string) (*Held, error) {
	l, ok := st.(*Local)
	if !ok {
		return nil, ErrClaimed
	}
	f, err := os.OpenFile(l.path(name), os.O_RDWR, 0)
	if os.IsNotExist(err) {
		return nil, ErrNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", l.path(name), err)
	}
	if locked, err := tryLock(f); err != nil || !locked {
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", l.path(name), err)
		}
		return nil, ErrClaimed
	}
	prev, err := io.ReadAll(f)
	if err != nil {
		unlock(f)
		f.Close()
		return nil, fmt.Errorf("read %s: %w", l.path(name), err)
	}
	return &Held{Prev: prev, st: st, name: name, f: f}, nil
}

// Rewrite replaces the claim's content (after a TakeOver).
func (h *Held) Rewrite(ctx context.Context, data []byte) error {
	if h.f == nil {
		return h.st.Put(ctx, h.name, data)
	}
	if err := h.f.Truncate(0); err != nil {
		return fmt.Errorf("rewrite %s: %w", h.f.Name(), err)
	}
	if _, err := h.f.WriteAt(data, 0); err != nil {
		return fmt.Errorf("rewrite %s: %w", h.f.Name(), err)
	}
	return h.f.Sync()
}

// Release lets the claim go; the file stays (it marks the folder as
// written by this run). Safe to call more than once.
func (h *Held) Release() {
	if h == nil {
		return
	}
	h.release.Do(func() {
		if h.f != nil {
			unlock(h.f)
			h.f.Close()
		}
	})
}

// Drop removes the claim file and lets the claim go: the folder is free
// again. Used by a run that stops having removed what it wrote.
func (h *Held) Drop(ctx context.Context) error {
	if h == nil {
		return nil
	}
	// Removed while still locked, so no one takes over a claim that is
	// about to vanish.
	err := h.st.Remove(ctx, h.name)
	h.Release()
	return err
}

func (l *Local) claim(name string, data []byte) (*Held, error) {
	p := l.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(p), err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if os.IsExist(err) {
		return nil, ErrClaimed
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	// Blocking: only a TakeOver probing the new file can hold the lock,
	// and only for as long as it takes to read it and find it is not its.
	if err := lock(f); err != nil {
		f.Close()
		os.Remove(p)
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	h := &Held{st: l, name: name, f: f}
	if _, err := f.Write(data); err != nil {
		h.Drop(context.Background())
		return nil, fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		h.Drop(context.Background())
		return nil, fmt.Errorf("sync %s: %w", p, err)
	}
	return h, nil
}

func (s *S3) claim(ctx context.Context, name string, data []byte) (*Held, error) {
	cl, err := s.cl(ctx)
	if err != nil {
		return nil, err
	}
	in := &s3.PutObjectInput{Bucket: aws.String(s.loc.Bucket), Key: aws.String(s.Key(name)),
		Body: strings.NewReader(string(data)), IfNoneMatch: aws.String("*")}
	if s.opts.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.opts.SSE)
	}
	if s.opts.SSEKMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(s.opts.SSEKMSKeyID)
	}
	if _, err := cl.PutObject(ctx, in); err != nil {
		if isPreconditionFailed(err) {
			return nil, ErrClaimed
		}
		return nil, fmt.Errorf("put %s: %w", s.URL(name), err)
	}
	return &Held{st: s, name: name}, nil
}

// isPreconditionFailed: the conditional write lost (412), or another
// conditional write to the key is in flight (409
// ConditionalRequestConflict): either way the key is someone else's.
func isPreconditionFailed(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict", "412":
			return true
		}
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode() == 412
	}
	return false
}

// Some returns up to n names in st (recursively, sorted within what it
// read), stopping early: enough to tell an empty folder, or to name what
// is in one, without listing a whole bucket.
func Some(ctx context.Context, st Store, n int) ([]string, error) {
	if s, ok := st.(*S3); ok {
		return s.some(ctx, n)
	}
	names, err := st.List(ctx, "")
	if len(names) > n {
		names = names[:n]
	}
	return names, err
}

func (s *S3) some(ctx context.Context, n int) ([]string, error) {
	cl, err := s.cl(ctx)
	if err != nil {
		return nil, err
	}
	out, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.loc.Bucket), Prefix: aws.String(s.loc.Dir()), MaxKeys: aws.Int32(int32(n))})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.URL(""), err)
	}
	var names []string
	for _, o := range out.Contents {
		names = append(names, strings.TrimPrefix(aws.ToString(o.Key), s.loc.Dir()))
	}
	return names, nil
}
