package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Timed is a store that can tell when its files were last written.
type Timed interface {
	// ModTimes lists the files under dir ("" for all) with their
	// modification (S3: LastModified) times, by name as List gives it.
	ModTimes(ctx context.Context, dir string) (map[string]time.Time, error)
}

var (
	_ Timed = (*Local)(nil)
	_ Timed = (*S3)(nil)
)

// ModTimes lists the files under dir with their modification times.
func (l *Local) ModTimes(ctx context.Context, dir string) (map[string]time.Time, error) {
	names, err := l.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(names))
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(l.Root, filepath.FromSlash(n)))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", l.path(n), err)
		}
		out[n] = fi.ModTime()
	}
	return out, nil
}

// ModTimes lists the objects under dir with their LastModified times.
func (s *S3) ModTimes(ctx context.Context, dir string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.each(ctx, dir, func(name string, o types.Object) { out[name] = aws.ToTime(o.LastModified) })
	if err != nil {
		return nil, err
	}
	return out, nil
}
