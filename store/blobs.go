package store

import (
	"context"

	"github.com/wardhealth/ward/blob"
)

// The bytes of Binary resources live in a blob store (package blob) under
// "<project>/<id>/<version>"; the store owns their lifecycle with the rows
// that name them: an erased Binary (expunge.go) or project
// (eraseproject.go) takes its bytes along once the erasure commits, and a
// project archive carries them (archive.go).

// UseBlobs names the blob store of Binary bytes. Set it at setup, before
// the store serves requests.
func (s *Store) UseBlobs(b blob.Store) { s.blobs = b }

// Blobs returns the blob store of Binary bytes, or nil.
func (s *Store) Blobs() blob.Store { return s.blobs }

// eraseBlobs queues the removal of the bytes under prefix ("<project>" or
// "<project>/<binary id>") for when the transaction commits.
func (t *tx) eraseBlobs(prefix ...string) {
	if t.s.blobs != nil {
		t.erasedBlobs = append(t.erasedBlobs, prefix...)
	}
}

// removeErasedBlobs removes the bytes of what the committed transaction
// erased. A failure is logged: the rows are gone, so nothing can reach the
// bytes any more, but an operator must know they are still on disk.
func (s *Store) removeErasedBlobs(ctx context.Context, prefixes []string) {
	ctx = context.WithoutCancel(ctx)
	for _, p := range prefixes {
		if err := s.blobs.Delete(ctx, p); err != nil {
			s.logger.ErrorContext(ctx, "erasure: Binary bytes not removed", "prefix", p, "error", err)
		}
	}
}
