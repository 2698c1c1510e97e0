package store

import (
	"context"

	"github.com/wardhealth/ward"
)

// Bulk export output. http/export.go pages through a caller's searches
// (the same walls and policy as any search) and keeps each page's NDJSON
// here, in the caller's project: a file is its parts in order, served only
// to callers of that project (the job's own wall is checked by the
// caller), deleted with the job's cancellation, a patient's erasure (any
// part that holds the patient) or the project's.

// AppendExportPart stores part number part of typ's file of job, in the
// caller's project.
func (s *Store) AppendExportPart(ctx context.Context, job, typ string, part int, ndjson []byte) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	return s.Write(ctx, func(ctx context.Context, rtx ward.ResourceTx) error {
		_, err := rtx.(*tx).exec(ctx, `INSERT INTO export_files (project_id, job_id, resource_type, part, content) VALUES (?, ?, ?, ?, ?)`,
			p.ProjectID, job, typ, part, string(ndjson))
		return err
	})
}

// ExportParts hands typ's file of job, part by part, to fn; nothing when
// the caller's project holds no such file.
func (s *Store) ExportParts(ctx context.Context, job, typ string, fn func(ndjson []byte) error) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	rows, err := s.reader.QueryContext(ctx, s.dialect.Rebind(`SELECT content FROM export_files
		WHERE project_id = ? AND job_id = ? AND resource_type = ? ORDER BY part`), p.ProjectID, job, typ)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var content string
		if err := rows.Scan(&content); err != nil {
			return err
		}
		if err := fn([]byte(content)); err != nil {
			return err
		}
	}
	return rows.Err()
}

// DeleteExportFiles deletes every file of job in the caller's project.
func (s *Store) DeleteExportFiles(ctx context.Context, job string) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	return s.Write(ctx, func(ctx context.Context, rtx ward.ResourceTx) error {
		_, err := rtx.(*tx).exec(ctx, `DELETE FROM export_files WHERE project_id = ? AND job_id = ?`, p.ProjectID, job)
		return err
	})
}

// eraseExportsOf deletes the export parts of project that hold patient:
// an erased patient leaves no copy in a finished or running export.
func (t *tx) eraseExportsOf(ctx context.Context, project, patientID string) error {
	_, err := t.exec(ctx, `DELETE FROM export_files WHERE project_id = ? AND content LIKE ?`, project, "%"+patientID+"%")
	return err
}
