package blob

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Dir stores blobs as files under a directory: a key's segments are its
// path. An upload is written to a temporary file in the directory's
// ".staging" folder, synced, and linked into place (then the temporary
// name is removed), so a reader sees the whole blob or none, and a crash
// leaves at most a stray temporary file.
type Dir struct {
	root string
}

// NewDir returns the store rooted at root, creating it.
func NewDir(root string) (*Dir, error) {
	if err := os.MkdirAll(filepath.Join(root, ".staging"), 0o700); err != nil {
		return nil, err
	}
	return &Dir{root: root}, nil
}

var _ Store = (*Dir)(nil)

func (d *Dir) path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

// Stage implements Store.
func (d *Dir) Stage(ctx context.Context, r io.Reader, limit int64) (Staged, error) {
	f, err := os.CreateTemp(filepath.Join(d.root, ".staging"), "upload-*")
	if err != nil {
		return nil, err
	}
	n, h, err := spool(ctx, f, r, limit)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return nil, err
	}
	return &dirStaged{dir: d, tmp: f.Name(), size: n, sum: h.Sum(nil)}, nil
}

// Open implements Store.
func (d *Dir) Open(_ context.Context, key string) (io.ReadCloser, error) {
	if !validKey(key) {
		return nil, ErrNotFound
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return f, err
}

// Delete implements Store.
func (d *Dir) Delete(_ context.Context, prefix string) error {
	if !validKey(prefix) {
		return errors.New("blob: bad prefix")
	}
	return os.RemoveAll(d.path(prefix))
}

type dirStaged struct {
	dir  *Dir
	tmp  string // "" once discarded
	size int64
	sum  []byte
}

func (s *dirStaged) Size() int64    { return s.size }
func (s *dirStaged) SHA256() []byte { return s.sum }

// Commit links the staged file under key, keeping it staged until Discard:
// a transaction retried after a commit publishes again under its new key.
func (s *dirStaged) Commit(_ context.Context, key string) error {
	if !validKey(key) {
		return errors.New("blob: bad key")
	}
	if s.tmp == "" {
		return errors.New("blob: discarded")
	}
	dst := s.dir.path(key)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Link(s.tmp, dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

func (s *dirStaged) Discard() error {
	if s.tmp == "" {
		return nil
	}
	err := os.Remove(s.tmp)
	s.tmp = ""
	return err
}

// syncDir makes a rename into dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
