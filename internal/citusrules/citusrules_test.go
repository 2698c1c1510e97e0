package citusrules

import (
	"slices"
	"testing"
)

// TestCheck reads statements of the shapes Ward's store issues: routed by
// project_id, or — for a table distributed by its own key — by that key;
// what reaches every shard, and what Citus refuses.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name      string
		query     string
		fansOut   bool
		violation bool
	}{
		{"read by id in a project", `SELECT content FROM resources WHERE resource_type = ? AND id = ? AND project_id = ?`, false, false},
		{"read by id anywhere", `SELECT content FROM resources WHERE resource_type = ? AND id = ?`, true, false},
		{"a locking read without a project", `SELECT version_id FROM resources WHERE resource_type = ? AND id = ? FOR UPDATE`, true, true},
		{"an identity home by its ref", `SELECT home FROM identity_homes WHERE ref = ? ORDER BY home`, false, false},
		{"identity homes by project", `SELECT ref FROM identity_homes WHERE home = ?`, true, false},
		{"an identity home written", `INSERT INTO identity_homes (ref, home) VALUES (?, ?) ON CONFLICT (ref, home) DO NOTHING`, false, false},
		{"a sign-in bucket spent", `INSERT INTO login_attempts (project_id, key, tokens, at) VALUES (?, ?, ?, ?) ON CONFLICT (project_id, key) DO UPDATE SET tokens = login_attempts.tokens - 1 RETURNING tokens`, false, false},
		{"a sign-in bucket read", `SELECT login_attempts.tokens FROM login_attempts WHERE project_id = ? AND key = ?`, false, false},
		{"sign-in buckets by project only", `SELECT tokens FROM login_attempts WHERE project_id = ?`, true, false},
		{"a keyed table joined to a project table", `SELECT r.content FROM identity_homes h JOIN resources r ON r.project_id = h.home WHERE h.ref = ? AND r.project_id = ?`, false, true},
		{"a co-located join on project_id", `SELECT a.id FROM resources a JOIN search_token b ON b.project_id = a.project_id AND b.resource_id = a.id WHERE a.project_id = ?`, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Check(tc.query)
			if v.FansOut() != tc.fansOut {
				t.Errorf("fans out: %v (unrouted %v), want %v", v.FansOut(), v.Unrouted, tc.fansOut)
			}
			if (len(v.Violations) > 0) != tc.violation {
				t.Errorf("violations %v, want some: %v", v.Violations, tc.violation)
			}
		})
	}
	if slices.Contains(ProjectTables, "login_attempts") || !slices.Contains(ProjectTables, "resources") {
		t.Errorf("ProjectTables %v: login_attempts is keyed, resources is a project table", ProjectTables)
	}
}
