package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"github.com/wardhealth/ward"
)

// A project backup as a file or an HTTP body (`ward project export`, GET
// /admin/projects/{id}/backup): one plaintext line naming the format and
// the project (so that a restore on the same server finds its key), then
// the project archive (archive.go) encrypted with age to the project's
// backup key. Erasing the project destroys the key: every backup of it
// becomes unreadable (crypto-shredding); `ward project key` hands the key
// to an operator who must restore elsewhere.

const backupHeader = "ward-project-backup/1 project="

// WriteProjectBackup writes project's encrypted backup to w (system
// principals only).
func (s *Store) WriteProjectBackup(ctx context.Context, project string, w io.Writer) (*ArchiveManifest, error) {
	if err := systemOnly(ctx); err != nil {
		return nil, err
	}
	if err := s.projectExists(ctx, project); err != nil {
		return nil, err
	}
	key, err := s.ProjectBackupKey(ctx, project)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(w, "%s%s\n", backupHeader, project); err != nil {
		return nil, err
	}
	enc, err := age.Encrypt(w, key.Recipient())
	if err != nil {
		return nil, err
	}
	m, err := s.ExportProject(ctx, project, enc)
	if err != nil {
		return nil, err
	}
	return m, enc.Close()
}

// RestoreProjectBackup decrypts the backup read from r with identities,
// or with the project's key held by this server when none is given, and
// imports it (ImportProject). A file that is not a backup, or that the
// key does not open, is refused as ErrArchive before anything is written.
func (s *Store) RestoreProjectBackup(ctx context.Context, r io.Reader, identities []age.Identity, opts ImportOptions) (*ArchiveImport, error) {
	if err := systemOnly(ctx); err != nil {
		return nil, err
	}
	br := bufio.NewReader(r)
	line, err := br.ReadString('\n')
	project, ok := strings.CutPrefix(strings.TrimSpace(line), backupHeader)
	if err != nil || !ok || !validID(project) {
		return nil, fmt.Errorf("%w: not a ward project backup", ErrArchive)
	}
	if len(identities) == 0 {
		key, err := s.FindProjectBackupKey(ctx, project)
		if err != nil {
			return nil, fmt.Errorf("%w: this server holds no backup key of project %s (erased, or backed up elsewhere): give the project's key", ErrArchive, project)
		}
		identities = []age.Identity{key}
	}
	plain, err := age.Decrypt(br, identities...)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decrypt the backup of project %s: %v", ErrArchive, project, err)
	}
	return s.ImportProject(ctx, plain, opts)
}

// projectExists is ENOTFOUND unless project holds a resource here.
func (s *Store) projectExists(ctx context.Context, project string) error {
	var n int
	err := s.reader.QueryRowContext(ctx, s.dialect.Rebind(`SELECT COUNT(*) FROM resources WHERE project_id = ? AND resource_type = 'Project' AND id = ? AND deleted = 0`), project, project).Scan(&n)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound()
	}
	return nil
}

// BackupProject implements ward.ProjectBackups.
func (s *Store) BackupProject(ctx context.Context, project string, w io.Writer) error {
	_, err := s.WriteProjectBackup(ctx, project, w)
	return err
}

// RestoreProject implements ward.ProjectBackups.
func (s *Store) RestoreProject(ctx context.Context, r io.Reader, key, asProject string) (*ward.ProjectRestore, error) {
	var ids []age.Identity
	if key != "" {
		var err error
		if ids, err = age.ParseIdentities(strings.NewReader(key)); err != nil {
			return nil, ward.Errorf(ward.EINVALID, "the backup key is not an age identity")
		}
	}
	res, err := s.RestoreProjectBackup(ctx, r, ids, ImportOptions{AsProject: asProject})
	if errors.Is(err, ErrArchive) {
		return nil, ward.Errorf(ward.EINVALID, "%v", err)
	}
	if err != nil {
		return nil, err
	}
	m := res.Manifest
	out := &ward.ProjectRestore{Project: res.Project, From: m.ProjectID, Resources: res.Resources,
		Versions: m.Files["resource_history.ndjson"].Rows}
	if res.Project == m.ProjectID {
		out.AuditRecords = m.Files["audit_chain.ndjson"].Rows
	}
	return out, nil
}
