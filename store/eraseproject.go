package store

import (
	"context"

	"github.com/wardhealth/ward"
)

// Erasing a whole project (a tenant that leaves, GDPR): every row of every
// table the project owns goes — resources with their history and index
// rows, compartments, the audit trail and its chain, its feed configuration, its backup key (so
// every archive ever made of it becomes unreadable: crypto-shredding) —
// and the sign-ins of its members (Login, kept in the server's own
// project) with them, so its tokens die; the caches of every process are
// dropped on commit. One record of the erasure stays, in the erasing super
// admin's trail.

// projectTables are the tables whose rows belong to a project by their
// project_id; TestEraseProject reads the catalog and fails on a table this
// list misses.
var projectTables = []string{
	"resources", "resource_history", "resource_compartments",
	"search_token", "search_string", "search_date", "search_number",
	"search_quantity", "search_reference", "search_uri", "search_date_width",
	"search_token_compartment", "search_date_compartment",
	"audit_chain", "audit_projected", "project_backup_keys", "export_files",
	"outbox", "outbox_cursors", "feed_configs", "feed_audit_cursors", "subscription_deliveries",
	"project_usage", "leases", "login_attempts", "job_runs", "mfa_used_steps",
}

// eraseProject deletes every row of project, and the Logins naming it,
// and returns how many resources it held.
func (t *tx) eraseProject(ctx context.Context, p *ward.Principal, project string) (int, error) {
	if project == ward.SystemProjectID || project == ward.R4ProjectID {
		return 0, forbidden()
	}
	var n int
	if err := t.sql.QueryRowContext(ctx, t.d.Rebind(`SELECT COUNT(*) FROM resources WHERE project_id = ?`), project).Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, notFound()
	}
	var logins []string
	err := t.eachRow(ctx, `SELECT id FROM resources WHERE project_id = ? AND resource_type = 'Login' AND content LIKE ?`,
		[]any{ward.SystemProjectID, "%" + project + "%"}, func(scan func(...any) error) error {
			var id string
			if err := scan(&id); err != nil {
				return err
			}
			logins = append(logins, id)
			return nil
		})
	if err != nil {
		return 0, err
	}
	if err := t.flushIndex(ctx); err != nil {
		return 0, err
	}
	for _, table := range projectTables {
		if _, err := t.sql.ExecContext(ctx, t.d.Rebind("DELETE FROM "+table+" WHERE project_id = ?"), project); err != nil {
			return 0, err
		}
	}
	// identity_homes is keyed by ref, not project (homes.go): its rows
	// naming the project go by their home (on Citus, a statement to every
	// shard, as a super admin's erasure may).
	if _, err := t.sql.ExecContext(ctx, t.d.Rebind("DELETE FROM identity_homes WHERE home = ?"), project); err != nil {
		return 0, err
	}
	if err := t.eraseRows(ctx, ward.SystemProjectID, "Login", logins); err != nil {
		return 0, err
	}
	t.eraseBlobs(project)
	// The identity caches of every process go on commit (OnCommit).
	t.written = append(t.written, &ward.Resource{Type: "Project", ID: project, ProjectID: project, Deleted: true})
	return n, nil
}
