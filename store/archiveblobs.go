package store

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/wardhealth/ward/blob"
)

// Binary bytes in a project archive: one file per stored Binary version,
// "binary/<id>/<version>", after the tables, each named in the manifest
// with its size and SHA-256. The versions are those of the archive's
// snapshot; a version whose bytes are inline (data) or missing has no
// file. A restore puts each file back into the blob store under the
// restored project (and, for a copy, the Binary's new id) and checks it
// against the manifest like any table.

const archiveBlobDir = "binary/"

// archivedBlob is one Binary version's bytes to archive.
type archivedBlob struct {
	name string // "binary/<id>/<version>"
	key  string // its blob key
	file ArchiveFile
}

// listArchiveBlobs hashes the stored bytes of every Binary version of
// project in the snapshot, for the manifest; the bytes are read again
// when the archive is written (versions never change).
func (s *Store) listArchiveBlobs(ctx context.Context, snap *sql.Tx, project string) ([]archivedBlob, error) {
	if s.blobs == nil {
		return nil, nil
	}
	rows, err := snap.QueryContext(ctx, s.dialect.Rebind(`SELECT id, version_id FROM resource_history
		WHERE project_id = ? AND resource_type = 'Binary' AND deleted = 0 ORDER BY id, version_id`), project)
	if err != nil {
		return nil, err
	}
	var out []archivedBlob
	for rows.Next() {
		var id, version string
		if err := rows.Scan(&id, &version); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, archivedBlob{name: archiveBlobDir + id + "/" + version, key: project + "/" + id + "/" + version})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	kept := out[:0]
	for _, b := range out {
		f, err := s.hashBlob(ctx, b.key, io.Discard)
		if errors.Is(err, blob.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		b.file = f
		kept = append(kept, b)
	}
	return kept, nil
}

// hashBlob copies the blob under key to w and returns its size and digest.
func (s *Store) hashBlob(ctx context.Context, key string, w io.Writer) (ArchiveFile, error) {
	rc, err := s.blobs.Open(ctx, key)
	if err != nil {
		return ArchiveFile{}, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), rc)
	if err != nil {
		return ArchiveFile{}, err
	}
	return ArchiveFile{Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// addArchiveBlobs writes the listed bytes as files of the archive.
func (s *Store) addArchiveBlobs(ctx context.Context, tw *tar.Writer, blobs []archivedBlob, created time.Time) error {
	for _, b := range blobs {
		if err := tw.WriteHeader(&tar.Header{Name: b.name, Mode: 0o600, Size: b.file.Bytes, ModTime: created}); err != nil {
			return err
		}
		got, err := s.hashBlob(ctx, b.key, tw)
		if err != nil {
			return err
		}
		if got != b.file {
			return fmt.Errorf("store: the bytes of %s changed while archived", b.name)
		}
	}
	return nil
}

// importBlob restores one "binary/<id>/<version>" file into project.
func (t *tx) importBlob(ctx context.Context, r io.Reader, name, project string, copying *renamer) (ArchiveFile, error) {
	if t.s.blobs == nil {
		return ArchiveFile{}, fmt.Errorf("%w: it holds Binary bytes and this server has no blob store", ErrArchive)
	}
	id, version, ok := strings.Cut(strings.TrimPrefix(name, archiveBlobDir), "/")
	if !ok || !validID(id) || !validID(version) {
		return ArchiveFile{}, fmt.Errorf("%w: unexpected file %q", ErrArchive, name)
	}
	if copying != nil {
		if id, ok = copying.ids["Binary/"+id]; !ok {
			return ArchiveFile{}, fmt.Errorf("%w: bytes of Binary/%s, which it does not hold", ErrArchive, id)
		}
	}
	key, err := blob.Key(project, id, version)
	if err != nil {
		return ArchiveFile{}, fmt.Errorf("%w: %v", ErrArchive, err)
	}
	t.restoredBlobs = project
	st, err := blob.Put(ctx, t.s.blobs, key, r, 0)
	if err != nil {
		return ArchiveFile{}, err
	}
	return ArchiveFile{Bytes: st.Size(), SHA256: hex.EncodeToString(st.SHA256())}, nil
}

// checkBlobs compares the Binary files read with the manifest's.
func (m *ArchiveManifest) checkBlobs(got map[string]ArchiveFile) error {
	for name, want := range m.Files {
		if strings.HasPrefix(name, archiveBlobDir) && got[name] != want {
			return fmt.Errorf("%w: %s: %+v read, manifest says %+v", ErrArchive, name, got[name], want)
		}
	}
	for name := range got {
		if _, ok := m.Files[name]; !ok {
			return fmt.Errorf("%w: %s is not in the manifest", ErrArchive, name)
		}
	}
	return nil
}
