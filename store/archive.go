package store

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/wardhealth/ward"
)

// A project archive: everything a project is, to restore it on this
// server, another, or the other engine (SQLite → PostgreSQL). A tar
// stream of one NDJSON file per table — every resource's current row and
// every version, the audit chain with its links — read in one snapshot,
// then manifest.json with each file's row count and SHA-256. The search
// index is not archived: it is derived from the resources and rebuilt on
// import. The project's identity travels with it, as the resources it is
// (the Project, memberships, project-scoped Users with their password
// hashes, ClientApplications, AccessPolicies); server-scoped Users and
// sign-ins (Login) stay behind. cmd/ward encrypts the stream with age to
// the project's backup key (ProjectBackupKey).

// archiveFormat names this layout in the manifest.
const archiveFormat = "ward-project-archive/1"

// ArchiveManifest is the last file of an archive.
type ArchiveManifest struct {
	Format    string                 `json:"format"`
	ProjectID string                 `json:"project"`
	Engine    string                 `json:"engine"`
	Created   time.Time              `json:"created"`
	Files     map[string]ArchiveFile `json:"files"`
}

// ArchiveFile is what the manifest says of one file.
type ArchiveFile struct {
	Rows   int64  `json:"rows"`
	SHA256 string `json:"sha256"`
	// Bytes is the size of a Binary's bytes (archiveblobs.go).
	Bytes int64 `json:"bytes,omitempty"`
}

// archiveRow is one row of an archived table; each table fills its own
// columns.
type archiveRow struct {
	Type        string `json:"type,omitempty"`
	ID          string `json:"id,omitempty"`
	Version     string `json:"version,omitempty"`
	LastUpdated int64  `json:"lastUpdated,omitempty"`
	Deleted     bool   `json:"deleted,omitempty"`
	Content     string `json:"content,omitempty"`
	Seq         int64  `json:"seq,omitempty"`
	Event       string `json:"event,omitempty"`
	Hash        string `json:"hash,omitempty"`
	Prev        string `json:"prev,omitempty"`
	ContentHash string `json:"contentHash,omitempty"`
	ErasedBy    string `json:"erasedBy,omitempty"`
}

// archiveTable is one archived table: how its rows are read and written.
type archiveTable struct {
	file   string
	query  string // selects the project's rows, in a stable order
	scan   func(scan func(...any) error) (archiveRow, error)
	insert string // "INSERT INTO table (columns)", for execRows
	values func(project string, r archiveRow) []any
}

func resourceTable(table string) archiveTable {
	return archiveTable{
		file:  table + ".ndjson",
		query: "SELECT resource_type, id, version_id, last_updated, deleted, content FROM " + table + " WHERE project_id = ? ORDER BY resource_type, id, last_updated, version_id",
		scan: func(scan func(...any) error) (archiveRow, error) {
			var r archiveRow
			var deleted int
			err := scan(&r.Type, &r.ID, &r.Version, &r.LastUpdated, &deleted, &r.Content)
			r.Deleted = deleted != 0
			return r, err
		},
		insert: "INSERT INTO " + table + " (project_id, resource_type, id, version_id, last_updated, deleted, content)",
		values: func(project string, r archiveRow) []any {
			deleted := int64(0)
			if r.Deleted {
				deleted = 1
			}
			return []any{project, r.Type, r.ID, r.Version, r.LastUpdated, deleted, r.Content}
		},
	}
}

var archiveTables = []archiveTable{
	resourceTable("resources"),
	resourceTable("resource_history"),
	{
		file:  "audit_chain.ndjson",
		query: "SELECT seq, event_id, hash, prev_hash, content_hash, erased_by FROM audit_chain WHERE project_id = ? ORDER BY seq",
		scan: func(scan func(...any) error) (archiveRow, error) {
			var r archiveRow
			err := scan(&r.Seq, &r.Event, &r.Hash, &r.Prev, &r.ContentHash, &r.ErasedBy)
			return r, err
		},
		insert: "INSERT INTO audit_chain (project_id, seq, event_id, hash, prev_hash, content_hash, erased_by)",
		values: func(project string, r archiveRow) []any {
			return []any{project, r.Seq, r.Event, r.Hash, r.Prev, r.ContentHash, r.ErasedBy}
		},
	},
}

// ExportProject writes project's archive to w from one snapshot (system
// principals only).
func (s *Store) ExportProject(ctx context.Context, project string, w io.Writer) (*ArchiveManifest, error) {
	if err := systemOnly(ctx); err != nil {
		return nil, err
	}
	s.awaitTrail(ctx)
	snap, err := s.reader.BeginTx(ctx, s.dialect.SnapshotOptions())
	if err != nil {
		return nil, err
	}
	defer snap.Rollback()
	var n int
	if err := snap.QueryRowContext(ctx, s.dialect.Rebind("SELECT COUNT(*) FROM resources WHERE project_id = ?"), project).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, notFound()
	}
	m := &ArchiveManifest{Format: archiveFormat, ProjectID: project, Engine: s.dialect.Name(), Created: s.now(), Files: map[string]ArchiveFile{}}
	var files []*spooled
	defer func() {
		for _, f := range files {
			f.file.Close()
			os.Remove(f.file.Name())
		}
	}()
	for _, table := range archiveTables {
		f, err := s.spoolTable(ctx, snap, table, project)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		m.Files[table.file] = ArchiveFile{Rows: f.rows, SHA256: f.sum}
	}
	blobs, err := s.listArchiveBlobs(ctx, snap, project)
	if err != nil {
		return nil, err
	}
	for _, b := range blobs {
		m.Files[b.name] = b.file
	}
	// The manifest goes first: an import knows the project and what to
	// expect before the first row.
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o600, Size: int64(len(data)), ModTime: m.Created}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	for i, table := range archiveTables {
		if err := addSpooled(tw, table.file, files[i].file); err != nil {
			return nil, err
		}
	}
	if err := s.addArchiveBlobs(ctx, tw, blobs, m.Created); err != nil {
		return nil, err
	}
	return m, tw.Close()
}

// spooled is one table written to a temporary file (tar needs each
// file's size before its bytes; memory stays flat however big the table).
type spooled struct {
	file *os.File
	rows int64
	sum  string
}

func (s *Store) spoolTable(ctx context.Context, q *sql.Tx, table archiveTable, project string) (*spooled, error) {
	f, err := os.CreateTemp("", "ward-archive-*.ndjson")
	if err != nil {
		return nil, err
	}
	out := &spooled{file: f}
	h := sha256.New()
	bw := bufio.NewWriter(io.MultiWriter(f, h))
	enc := json.NewEncoder(bw)
	rows, err := q.QueryContext(ctx, s.dialect.Rebind(table.query), project)
	if err == nil {
		for rows.Next() {
			var r archiveRow
			if r, err = table.scan(rows.Scan); err != nil {
				break
			}
			if err = enc.Encode(&r); err != nil {
				break
			}
			out.rows++
		}
		if err == nil {
			err = rows.Err()
		}
		rows.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	out.sum = hex.EncodeToString(h.Sum(nil))
	return out, nil
}

func addSpooled(tw *tar.Writer, name string, f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: st.Size(), ModTime: st.ModTime()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// ErrArchive is what a damaged, truncated or foreign archive is refused with.
var ErrArchive = errors.New("store: not a complete, intact project archive")

// ImportProject restores an archive read from r into this store, in one
// transaction that writes nothing unless every file matched the manifest:
// the project must not exist here, nor any of its resource ids in another
// project (ids are unique across a server) — unless opts restores it as a
// copy under another project id (archivecopy.go). System principals only.
func (s *Store) ImportProject(ctx context.Context, r io.Reader, opts ImportOptions) (*ArchiveImport, error) {
	if err := systemOnly(ctx); err != nil {
		return nil, err
	}
	if opts.AsProject != "" && !validID(opts.AsProject) {
		return nil, ward.Errorf(ward.EINVALID, "invalid project id %q", opts.AsProject)
	}
	var out *ArchiveImport
	var restored string // the project whose bytes this restore wrote
	err := s.Write(ctx, func(ctx context.Context, rtx ward.ResourceTx) error {
		t := rtx.(*tx)
		var err error
		out, err = t.importArchive(ctx, r, opts)
		restored = t.restoredBlobs
		return err
	})
	if err != nil {
		if restored != "" {
			// Nothing of the project was committed: its bytes go too.
			s.removeErasedBlobs(ctx, []string{restored})
		}
		return nil, err
	}
	return out, nil
}

func (t *tx) importArchive(ctx context.Context, r io.Reader, opts ImportOptions) (*ArchiveImport, error) {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != "manifest.json" {
		return nil, fmt.Errorf("%w: it does not start with its manifest", ErrArchive)
	}
	m, err := readManifest(tr)
	if err != nil {
		return nil, err
	}
	out := &ArchiveImport{Manifest: m, Project: m.ProjectID}
	var copying *renamer
	if opts.AsProject != "" && opts.AsProject != m.ProjectID {
		out.Project, copying = opts.AsProject, newRenamer(m.ProjectID, opts.AsProject)
	}
	if err := t.checkProjectAbsent(ctx, out.Project); err != nil {
		return nil, err
	}
	got := map[string]ArchiveFile{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrArchive, err)
		}
		if strings.HasPrefix(hdr.Name, archiveBlobDir) {
			if got[hdr.Name], err = t.importBlob(ctx, tr, hdr.Name, out.Project, copying); err != nil {
				return nil, err
			}
			continue
		}
		table, ok := tableOf(hdr.Name)
		if !ok {
			return nil, fmt.Errorf("%w: unexpected file %q", ErrArchive, hdr.Name)
		}
		if copying == nil {
			got[hdr.Name], err = t.importTable(ctx, tr, table, out.Project, nil)
		} else {
			got[hdr.Name], err = t.importCopied(ctx, tr, table, copying, len(got) == 0)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := m.check(got); err != nil {
		return nil, err
	}
	if err := m.checkBlobs(got); err != nil {
		return nil, err
	}
	if err := t.checkIDsFree(ctx, out.Project); err != nil {
		return nil, err
	}
	out.Resources = got["resources.ndjson"].Rows
	if err := t.indexImported(ctx, out.Project); err != nil {
		return nil, err
	}
	if copying != nil {
		return out, t.copyRecord(ctx, out.Project, m.ProjectID, out.Resources)
	}
	return out, nil
}

// importCopied imports one file of an archive restored as a copy: the
// resources file first (every id must be known before any row is
// rewritten), then the history with the same new ids; the audit chain is
// checked against the manifest but stays with the original.
func (t *tx) importCopied(ctx context.Context, r io.Reader, table archiveTable, n *renamer, first bool) (ArchiveFile, error) {
	switch table.file {
	case "resources.ndjson":
		if !first {
			return ArchiveFile{}, fmt.Errorf("%w: resources.ndjson is not its first file", ErrArchive)
		}
		f, err := n.spoolResources(r)
		if err != nil {
			return ArchiveFile{}, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		return t.importTable(ctx, f, table, n.to, n.rewrite)
	case "audit_chain.ndjson":
		return t.importTable(ctx, r, table, n.to, func(*archiveRow) (bool, error) { return false, nil })
	}
	if first {
		return ArchiveFile{}, fmt.Errorf("%w: resources.ndjson is not its first file", ErrArchive)
	}
	return t.importTable(ctx, r, table, n.to, n.rewrite)
}

// checkProjectAbsent refuses to restore over a project that exists here.
func (t *tx) checkProjectAbsent(ctx context.Context, project string) error {
	var n int
	if err := t.sql.QueryRowContext(ctx, t.d.Rebind(`SELECT COUNT(*) FROM resources WHERE project_id = ?`), project).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return ward.Errorf(ward.ECONFLICT, "project %s exists on this server: erase it first, or restore elsewhere", project)
	}
	return nil
}

func readManifest(r io.Reader) (*ArchiveManifest, error) {
	var m ArchiveManifest
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrArchive, err)
	}
	if m.Format != archiveFormat || !validID(m.ProjectID) {
		return nil, fmt.Errorf("%w: manifest of format %q, project %q", ErrArchive, m.Format, m.ProjectID)
	}
	return &m, nil
}

func tableOf(file string) (archiveTable, bool) {
	for _, t := range archiveTables {
		if t.file == file {
			return t, true
		}
	}
	return archiveTable{}, false
}

// check compares the files read with the manifest: every file present,
// with its row count and digest.
func (m *ArchiveManifest) check(got map[string]ArchiveFile) error {
	for _, table := range archiveTables {
		want, ok := m.Files[table.file]
		if !ok || got[table.file] != want {
			return fmt.Errorf("%w: %s: %+v read, manifest says %+v", ErrArchive, table.file, got[table.file], want)
		}
	}
	return nil
}

// importTable inserts one archived file's rows into project, hashing
// them as read; keep, when not nil, rewrites each row or leaves it out.
func (t *tx) importTable(ctx context.Context, r io.Reader, table archiveTable, project string, keep func(*archiveRow) (bool, error)) (ArchiveFile, error) {
	h := sha256.New()
	dec := json.NewDecoder(io.TeeReader(r, h))
	var f ArchiveFile
	var batch [][]any
	flush := func() error {
		err := t.execRows(ctx, table.insert, batch, "")
		batch = batch[:0]
		if err != nil {
			return conflictOnDuplicate(err)
		}
		return nil
	}
	for {
		var row archiveRow
		err := dec.Decode(&row)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return f, fmt.Errorf("%w: %s row %d: %v", ErrArchive, table.file, f.Rows+1, err)
		}
		f.Rows++
		if keep != nil {
			if ok, err := keep(&row); err != nil || !ok {
				if err != nil {
					return f, err
				}
				continue
			}
		}
		batch = append(batch, table.values(project, row))
		if len(batch) == 512 {
			if err := flush(); err != nil {
				return f, err
			}
		}
	}
	if err := flush(); err != nil {
		return f, err
	}
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	return f, nil
}

// checkIDsFree refuses an archive whose resources exist in another
// project here (a restore next to the original, or a second import). The
// restored ids are a sub-plan (IN (SELECT …)), not a join on the id:
// Citus joins distributed tables only on project_id.
func (t *tx) checkIDsFree(ctx context.Context, project string) error {
	var n int
	err := t.sql.QueryRowContext(ctx, t.d.Rebind(`SELECT COUNT(*) FROM resources b WHERE b.project_id <> ?
		AND (b.resource_type, b.id) IN (SELECT a.resource_type, a.id FROM resources a WHERE a.project_id = ?)`), project, project).Scan(&n)
	if err != nil {
		return err
	}
	if n > 0 {
		return ward.Errorf(ward.ECONFLICT, "%d resources of the archive exist in another project of this server", n)
	}
	return nil
}

// indexImported rebuilds the search index of the imported project's
// current resources and marks its audit trail indexed.
func (t *tx) indexImported(ctx context.Context, project string) error {
	type stored struct{ typ, content string }
	var live []stored
	err := t.eachRow(ctx, `SELECT resource_type, content FROM resources WHERE project_id = ? AND deleted = 0`, []any{project},
		func(scan func(...any) error) error {
			var s stored
			if err := scan(&s.typ, &s.content); err != nil {
				return err
			}
			live = append(live, s)
			return nil
		})
	if err != nil {
		return err
	}
	for _, r := range live {
		v, err := t.s.storedVersion(ctx, project, r.typ, []byte(r.content))
		if err != nil {
			return err
		}
		if err := t.insertIndex(ctx, v); err != nil {
			return err
		}
		if err := t.noteHome(ctx, v.res); err != nil {
			return err
		}
	}
	_, err = t.exec(ctx, `INSERT INTO audit_projected (project_id, seq) SELECT project_id, MAX(seq) FROM audit_chain WHERE project_id = ? GROUP BY project_id`, project)
	return err
}

func systemOnly(ctx context.Context) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	if !p.System {
		return forbidden()
	}
	return nil
}

// ProjectBackupKey returns project's age identity, the key its archives
// are encrypted to, creating it on first use (system principals only).
// Erasing the project destroys it.
func (s *Store) ProjectBackupKey(ctx context.Context, project string) (*age.X25519Identity, error) {
	if err := systemOnly(ctx); err != nil {
		return nil, err
	}
	var text string
	err := s.Write(ctx, func(ctx context.Context, rtx ward.ResourceTx) error {
		t := rtx.(*tx)
		err := t.sql.QueryRowContext(ctx, t.d.Rebind(`SELECT identity FROM project_backup_keys WHERE project_id = ?`), project).Scan(&text)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return err
		}
		text = id.String()
		_, err = t.exec(ctx, `INSERT INTO project_backup_keys (project_id, identity) VALUES (?, ?)`, project, text)
		return err
	})
	if err != nil {
		return nil, err
	}
	return age.ParseX25519Identity(text)
}

// FindProjectBackupKey returns project's age identity, or ENOTFOUND when
// this server holds none (never made, or the project was erased).
func (s *Store) FindProjectBackupKey(ctx context.Context, project string) (*age.X25519Identity, error) {
	if err := systemOnly(ctx); err != nil {
		return nil, err
	}
	var text string
	err := s.reader.QueryRowContext(ctx, s.dialect.Rebind(`SELECT identity FROM project_backup_keys WHERE project_id = ?`), project).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ward.Errorf(ward.ENOTFOUND, "no backup key of project %s on this server (never made, or the project was erased)", project)
	}
	if err != nil {
		return nil, err
	}
	return age.ParseX25519Identity(text)
}
