package store

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/wardhealth/ward"
)

// Accounts (spec 3.2): meta.accounts says which organisations (or other
// account resources) a resource belongs to; its UUIDs enter
// meta.compartment and so the _compartment criteria of access policies.
// The store computes them on every create and update; a client never
// decides them unless it may write accounts.

// accountInput is everything that decides the accounts of a version being
// written. Patients is only read for types other than Patient.
type accountInput struct {
	Principal *ward.Principal
	Type      string
	// Creating is true when there is no live current version (a create,
	// an update-as-create, or the re-creation of a deleted resource).
	Creating bool
	// Meta is the submitted meta object; nil when the body had none.
	Meta map[string]any
	// Existing are the accounts of the live current version.
	Existing []string
	// Patients are the accounts of every Patient the resource references
	// through the Patient compartment parameters, in reference order.
	Patients []string
}

// nextAccounts returns meta.accounts of the version being written, in
// order and without duplicates (meta.account is its first element). It is
// the one account rule of the store; $set-accounts relies on it too.
//
//   - A caller that may write accounts (mayWriteAccounts) and sent a meta
//     object gets exactly meta.account + meta.accounts; a meta with neither
//     clears them, as in Medplum.
//   - Otherwise the accounts are derived: on create the policy compartment
//     (skipped while it still holds an unsubstituted %variable: Ward
//     stamps no account that names nothing); for a Patient plus its
//     existing accounts; for any other type plus the accounts of the
//     Patients it references.
//   - Ward closes the gap of spec 3.2/3.5: submitted accounts are never
//     kept in the derived case. When the derived set is empty an update
//     keeps the existing accounts (Medplum would keep whatever the client
//     sent, which for a client that read the resource first is the same),
//     and a create gets none.
func nextAccounts(in accountInput) []string {
	if in.Meta != nil && mayWriteAccounts(in.Principal) {
		return clientAccounts(in.Meta)
	}
	var out []string
	if in.Creating {
		if c := policyCompartment(in.Principal); c != "" {
			out = addRefs(out, c)
		}
	}
	if in.Type == "Patient" {
		out = addRefs(out, in.Existing...)
	} else {
		out = addRefs(out, in.Patients...)
	}
	if len(out) == 0 && !in.Creating {
		return in.Existing
	}
	return out
}

// mayWriteAccounts is Medplum's canWriteAccount: extended mode and a
// project or super admin (internal system writes count as both).
func mayWriteAccounts(p *ward.Principal) bool {
	return p.Extended && (p.Admin || p.System)
}

// policyCompartment is the account a create is stamped with, "" for none.
// A compartment that still holds a '%' names a parameter the membership
// did not bind; stamping it would give the resource an account no
// criteria can ever match, so Ward leaves it out.
func policyCompartment(p *ward.Principal) string {
	if p.Policy == nil || strings.Contains(p.Policy.Compartment, "%") {
		return ""
	}
	return p.Policy.Compartment
}

// addRefs appends each of refs not yet in list.
func addRefs(list []string, refs ...string) []string {
	for _, r := range refs {
		if r != "" && !slices.Contains(list, r) {
			list = append(list, r)
		}
	}
	return list
}

// clientAccounts reads meta.account then meta.accounts, de-duplicated.
func clientAccounts(meta map[string]any) []string {
	var out []string
	add := func(v any) {
		if ref, ok := v.(map[string]any); ok {
			if s, _ := ref["reference"].(string); s != "" {
				out = addRefs(out, s)
			}
		}
	}
	add(meta["account"])
	if list, ok := meta["accounts"].([]any); ok {
		for _, v := range list {
			add(v)
		}
	}
	return out
}

// storedAccounts returns the accounts of stored JSON content (the
// accounts list, or the legacy single account when it is absent).
func storedAccounts(content []byte) []string {
	var r struct {
		Meta struct {
			Account  *struct{ Reference string }  `json:"account"`
			Accounts []struct{ Reference string } `json:"accounts"`
		} `json:"meta"`
	}
	if len(content) == 0 || json.Unmarshal(content, &r) != nil {
		return nil
	}
	var out []string
	for _, a := range r.Meta.Accounts {
		out = addRefs(out, a.Reference)
	}
	if len(out) == 0 && r.Meta.Account != nil {
		out = addRefs(out, r.Meta.Account.Reference)
	}
	return out
}

// patientAccounts returns the accounts of the given Patients, read with
// system rights in one query inside the transaction (so a Patient written
// earlier in it counts), in the order of ids. Patients are looked up in
// the write project and the projects whose Patients the caller may read
// (not the R4 definitions project: it holds none, and naming it sent
// every write that references a Patient to a second shard on Citus); a
// reference elsewhere is refused by the reference check anyway.
func (t *tx) patientAccounts(ctx context.Context, p *ward.Principal, project string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	projects := []string{project}
	if !p.System {
		projects = addRefs(projects, readProjectsFor(p, "Patient")...)
	}
	args := make([]any, 0, len(projects)+len(ids))
	for _, pr := range projects {
		args = append(args, pr)
	}
	for _, id := range ids {
		args = append(args, id)
	}
	query := "SELECT id, content FROM resources WHERE project_id IN (?" + repeat(", ?", len(projects)-1) +
		") AND resource_type = 'Patient' AND id IN (?" + repeat(", ?", len(ids)-1) + ") AND deleted = 0"
	rows, err := t.q.QueryContext(ctx, t.d.Rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byID := make(map[string][]string, len(ids))
	for rows.Next() {
		var id, content string
		if err := rows.Scan(&id, &content); err != nil {
			return nil, err
		}
		byID[id] = addRefs(byID[id], storedAccounts([]byte(content))...)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		out = addRefs(out, byID[id]...)
	}
	return out, nil
}

// applyDefaultProfile is Project.defaultProfile (spec 1.2, 2.7 step 1;
// Medplum's checkResourcePermissions): a resource written without
// meta.profile gets the profiles the project lists for its type. An
// empty meta.profile is a profile, so it is kept, as in Medplum. It runs
// before indexing (so _profile finds the default). Unlike Medplum, the
// meta it creates on a body that had none does not count as a meta the
// client sent: an extended-mode admin's write without meta keeps its
// derived accounts instead of clearing them. System writes get no
// default: Medplum's system repository has no current project. The
// caller's Principal carries the project's defaults (auth reads them with
// the Project and rebuilds the caller when it changes), so a write reads
// nothing for them.
func applyDefaultProfile(p *ward.Principal, typ string, d *decodedResource) error {
	if p.System {
		return nil
	}
	if _, ok := d.metaIn["profile"]; ok {
		return nil
	}
	profiles := p.DefaultProfiles[typ]
	if len(profiles) == 0 {
		return nil
	}
	raw, err := json.Marshal(profiles)
	if err != nil {
		return err
	}
	list := make([]any, len(profiles))
	for i, pr := range profiles {
		list[i] = pr
	}
	if d.metaIn == nil {
		d.metaIn = map[string]any{}
	}
	d.metaIn["profile"] = list
	d.meta = append(d.meta, field{"profile", raw})
	return nil
}
