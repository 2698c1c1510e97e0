package store

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/wardhealth/ward"
)

// Identity homes (issue 15, table identity_homes): where the rows an
// identity lookup needs live, for the two lookups whose request does not
// say it —
//   - a client authenticating with its id and secret: "ClientApplication/<id>"
//     maps to the project the client lives in and to the projects of the
//     memberships naming it;
//   - a User signing in without a project: "User/<id>" maps to the
//     projects of the memberships naming it.
// A lookup reads the home first (one shard on Citus: the table is
// distributed by ref, layout.go) and then the rows in those projects (one
// shard each), instead of every project.
//
// A home is written in the transaction that writes the ClientApplication
// or the membership (tx.noteHome), so one is never missing for a row that
// exists; the migration filled it for the rows written before, and a
// restored archive fills it for its project (indexImported). It is never
// deleted: a stale home (a deleted or erased membership, a user moved to
// another membership) only names a project where the lookup then finds
// nothing, never a row it should not. No other type writes here, so
// ingest is untouched.

// homeType reports the types whose writes note a home.
func homeType(typ string) bool { return typ == "ClientApplication" || typ == "ProjectMembership" }

// homeRef returns the ref a stored row of typ gives a home to ("" for
// none): the client itself, or the User or ClientApplication a membership
// names.
func homeRef(typ, id string, content []byte) string {
	switch typ {
	case "ClientApplication":
		return "ClientApplication/" + id
	case "ProjectMembership":
		var m struct {
			User struct {
				Reference string `json:"reference"`
			} `json:"user"`
		}
		if json.Unmarshal(content, &m) != nil {
			return ""
		}
		if ref := m.User.Reference; strings.HasPrefix(ref, "User/") || strings.HasPrefix(ref, "ClientApplication/") {
			return ref
		}
	}
	return ""
}

// noteHome records the home r gives when r is a live ClientApplication
// or ProjectMembership.
func (t *tx) noteHome(ctx context.Context, r *ward.Resource) error {
	if r.Deleted || !homeType(r.Type) {
		return nil
	}
	ref := homeRef(r.Type, r.ID, r.Content)
	if ref == "" {
		return nil
	}
	_, err := t.exec(ctx, `INSERT INTO identity_homes (ref, home) VALUES (?, ?) ON CONFLICT (ref, home) DO NOTHING`, ref, r.ProjectID)
	return err
}

// insertHomed is insert plus the row's identity home, in the same
// transaction (and savepoint).
func (t *tx) insertHomed(ctx context.Context, v *version, replace bool) error {
	if err := t.insert(ctx, v, replace); err != nil {
		return err
	}
	return t.noteHome(ctx, v.res)
}

// IdentityHomes returns the projects ref ("ClientApplication/<id>" or
// "User/<id>") has a home in, none when it has none: a client's project
// and its memberships' projects, a User's memberships' projects. Only
// system principals may ask (it tells where an account is a member).
func (s *Store) IdentityHomes(ctx context.Context, ref string) ([]string, error) {
	if err := systemOnly(ctx); err != nil {
		return nil, err
	}
	rows, err := s.reader.QueryContext(ctx, s.dialect.Rebind(`SELECT home FROM identity_homes WHERE ref = ? ORDER BY home`), ref)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var home string
		if err := rows.Scan(&home); err != nil {
			return nil, err
		}
		out = append(out, home)
	}
	return out, rows.Err()
}
