package auth

import (
	"context"
	"net/http"
	"strings"

	"github.com/wardhealth/ward"
)

// A project's backup and restore as admin API calls, for super admins
// only (the CLI's `ward project export|import` on a running server):
//
//	GET  /admin/projects/{projectId}/backup   the encrypted backup file
//	POST /admin/projects/restore              restore one (the body)
//
// The restore takes ?asNewProject=true (a copy under a new project id) or
// ?project=ID, and the project's key in the X-Ward-Backup-Key header when
// this server does not hold it (a backup made elsewhere). Each call is
// recorded in the super admin's trail.

// backupKeyHeader carries an age identity for a backup made elsewhere.
const backupKeyHeader = "X-Ward-Backup-Key"

func (s *Service) mountBackups(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/projects/{projectId}/backup", s.handleBackup)
	mux.HandleFunc("POST /admin/projects/restore", s.adminWrite("project-restore", "C", s.handleRestore))
}

// backups is the store's backup interface, or 403 when it has none.
func (s *Service) backups(c *Caller) (ward.ProjectBackups, error) {
	if c == nil || !c.SuperAdmin() {
		return nil, ward.Errorf(ward.EFORBIDDEN, "Forbidden")
	}
	b, ok := s.store.(ward.ProjectBackups)
	if !ok {
		return nil, ward.Errorf(ward.ENOTFOUND, "Project backups are not supported by this store")
	}
	return b, nil
}

// handleBackup streams a project's backup. The answer is too large to hold
// until its record is durable (as audited does), so the request is
// checked and recorded first, then the file streams; a failure after the
// first byte cuts the transfer, which the backup's encryption reveals as
// a truncated file on restore.
func (s *Service) handleBackup(w http.ResponseWriter, r *http.Request) {
	var b ward.ProjectBackups
	project := r.PathValue("projectId")
	status := &statusWriter{ResponseWriter: w}
	s.audited(kindRest, "project-backup", "R", func(w http.ResponseWriter, r *http.Request) {
		c, err := s.callerOf(r.Context(), r)
		if err == nil {
			b, err = s.backups(c)
		}
		if err == nil {
			noteTarget(r.Context(), "Project", project)
			_, _, err = s.adminProject(r.Context(), c, project)
		}
		if err != nil {
			b = nil
			writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="project-`+project+`.ward"`)
		w.WriteHeader(http.StatusOK)
	})(status, r)
	if b == nil || status.code != http.StatusOK {
		return
	}
	if err := b.BackupProject(system(r.Context()), project, w); err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "project backup failed mid-stream", "project", project, "error", err)
		panic(http.ErrAbortHandler) // the client must not take a cut file for a whole one
	}
}

// statusWriter remembers the status sent.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// handleRestore restores the backup in the request body.
func (s *Service) handleRestore(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	b, err := s.backups(c)
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	asProject := q.Get("project")
	switch {
	case q.Get("asNewProject") == "true" && asProject != "":
		return 0, nil, ward.Errorf(ward.EINVALID, "asNewProject and project exclude each other")
	case q.Get("asNewProject") == "true":
		asProject = ward.NewID()
	case asProject != "" && !isPathID(asProject):
		return 0, nil, ward.Errorf(ward.EINVALID, "Invalid project id")
	}
	res, err := b.RestoreProject(system(ctx), r.Body, strings.TrimSpace(r.Header.Get(backupKeyHeader)), asProject)
	if err != nil {
		return 0, nil, err
	}
	noteTarget(ctx, "Project", res.Project)
	return http.StatusCreated, res, nil
}
