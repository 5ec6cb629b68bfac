package store

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Local is a store in a local folder.
type Local struct{ Root string }

func NewLocal(root string) *Local { return &Local{Root: root} }

func (l *Local) path(name string) string { return filepath.Join(l.Root, filepath.FromSlash(name)) }

func (l *Local) URL(name string) string { return l.path(name) }
func (l *Local) Key(name string) string { return name }

type localFile struct {
	f         *os.File
	tmp, dest string
	done      bool
}

func (l *Local) Create(ctx context.Context, name string) (File, error) {
	dest := l.path(name)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dest, err)
	}
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", dest, err)
	}
	return &localFile{f: f, tmp: f.Name(), dest: dest}, nil
}

func (f *localFile) Write(p []byte) (int, error) { return f.f.Write(p) }

func (f *localFile) Commit(ctx context.Context) error {
	if err := f.f.Sync(); err != nil {
		f.Abort()
		return fmt.Errorf("sync %s: %w", f.dest, err)
	}
	if err := f.f.Close(); err != nil {
		f.Abort()
		return fmt.Errorf("close %s: %w", f.dest, err)
	}
	if err := os.Rename(f.tmp, f.dest); err != nil {
		f.Abort()
		return fmt.Errorf("commit %s: %w", f.dest, err)
	}
	f.done = true
	return nil
}

func (f *localFile) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.f.Close()
	os.Remove(f.tmp)
}

func (l *Local) Put(ctx context.Context, name string, data []byte) error {
	f, err := l.Create(ctx, name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", l.path(name), err)
	}
	return f.Commit(ctx)
}

// Open and Exists see files only: a folder is not a file in S3, where a
// name with files under it has no object of its own.
func (l *Local) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	f, err := os.Open(l.path(name))
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("open %s: %w", l.path(name), ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("open %s: a folder: %w", l.path(name), ErrNotExist)
	}
	return f, nil
}

func (l *Local) Exists(ctx context.Context, name string) (bool, error) {
	fi, err := os.Stat(l.path(name))
	if os.IsNotExist(err) {
		return false, nil
	}
	return err == nil && !fi.IsDir(), err
}

func (l *Local) List(ctx context.Context, dir string) ([]string, error) {
	var out []string
	root := l.path(dir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == root {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(l.Root, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	sort.Strings(out)
	return out, nil
}

func (l *Local) Remove(ctx context.Context, name string) error {
	if err := os.Remove(l.path(name)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove %s: %w", l.path(name), err)
	}
	return nil
}

// Sub is the store of the folder dir inside this one.
func (l *Local) Sub(dir string) Store { return NewLocal(l.path(dir)) }
