// Package blob owns the bytes of Binary resources: where they live (a
// directory on disk, or an S3-compatible bucket), how an upload is staged
// out of sight and then published under its key in one step, and how the
// bytes of an erased project or resource are removed. It knows nothing of
// FHIR, projects or access rules: the caller names keys, after the store
// has decided what the caller may do.
//
// A key is a path of segments, "<project>/<binary id>/<version id>"; each
// segment is made of letters, digits, '-', '_' and '.', and does not start
// with '.', so no key escapes its store or meets its staging area.
package blob

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
)

// ErrNotFound is returned by Open for a key that holds no blob.
var ErrNotFound = errors.New("blob: not found")

// ErrTooLarge is returned by Stage when the input is longer than its limit.
var ErrTooLarge = errors.New("blob: too large")

// Store holds blobs by key.
type Store interface {
	// Stage reads r to its end into a blob visible under no key yet. More
	// than limit bytes (limit > 0) is ErrTooLarge, and nothing is kept.
	Stage(ctx context.Context, r io.Reader, limit int64) (Staged, error)
	// Open returns the blob under key, or ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes every blob whose key is prefix or starts with prefix
	// + "/". A prefix holding nothing is not an error.
	Delete(ctx context.Context, prefix string) error
}

// Staged is an upload held out of sight until Commit or Discard.
type Staged interface {
	Size() int64
	// SHA256 is the digest of the staged bytes.
	SHA256() []byte
	// Commit publishes the bytes under key, replacing what it held.
	Commit(ctx context.Context, key string) error
	// Discard drops the bytes; after Commit it only releases resources.
	Discard() error
}

// Put stages r and commits it under key.
func Put(ctx context.Context, s Store, key string, r io.Reader, limit int64) (Staged, error) {
	st, err := s.Stage(ctx, r, limit)
	if err != nil {
		return nil, err
	}
	defer func() { _ = st.Discard() }()
	if err := st.Commit(ctx, key); err != nil {
		return nil, err
	}
	return st, nil
}

// Key joins segments into a key after checking each.
func Key(segments ...string) (string, error) {
	for _, s := range segments {
		if !validSegment(s) {
			return "", fmt.Errorf("blob: bad key segment %q", s)
		}
	}
	return strings.Join(segments, "/"), nil
}

func validKey(key string) bool {
	for _, s := range strings.Split(key, "/") {
		if !validSegment(s) {
			return false
		}
	}
	return true
}

func validSegment(s string) bool {
	if s == "" || s[0] == '.' || len(s) > 128 {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// spool copies r into f (at most limit bytes when limit > 0), hashing it,
// and syncs f. It never holds more than a copy buffer in memory.
func spool(ctx context.Context, f *os.File, r io.Reader, limit int64) (int64, hash.Hash, error) {
	h := sha256.New()
	src := r
	if limit > 0 {
		src = io.LimitReader(r, limit+1)
	}
	n, err := io.CopyBuffer(io.MultiWriter(f, h), ctxReader{ctx, src}, make([]byte, 64<<10))
	if err != nil {
		return n, nil, err
	}
	if limit > 0 && n > limit {
		return n, nil, ErrTooLarge
	}
	if err := f.Sync(); err != nil {
		return n, nil, err
	}
	return n, h, nil
}

// ctxReader stops a copy once ctx is done (a client that hung up).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
