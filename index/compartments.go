package index

import (
	"slices"

	"github.com/wardhealth/ward/fhir"
)

// Compartments returns the compartments of a resource as Medplum computes
// them (spec §3.1), given the index rows Extract returned for it:
//
//  1. Project/<projectID>;
//  2. for a User, its own User.project reference;
//  3. each meta.accounts reference (meta.account when accounts is absent)
//     whose id is a UUID and that is not a Project;
//  4. for a Patient, Patient/<id>; then each Patient/<uuid> value of the
//     parameters that put the type into the Patient compartment
//     (fhir.PatientCompartmentParams; "link" for a Patient).
//
// refs are the reference strings in that order, without duplicates, for
// meta.compartment; uuids are their ids, without duplicates, for the
// resource_compartments table. Only references with a UUID id are kept.
func Compartments(projectID, resourceType, id string, resource map[string]any, rows *Rows) (refs []string, uuids []string) {
	var c compartmentSet
	c.add("Project", projectID)
	if resourceType == "User" {
		if typ, ref, ok := ParseReference(str(obj(resource, "project"), "reference")); ok && typ == "Project" {
			c.add(typ, ref)
		}
	}
	for _, ref := range accountRefs(obj(resource, "meta")) {
		if typ, id, ok := ParseReference(ref); ok && typ != "" && typ != "Project" {
			c.add(typ, id)
		}
	}
	if resourceType == "Patient" {
		c.add("Patient", id)
	}
	for _, patient := range PatientRefs(resourceType, rows) {
		c.add("Patient", patient)
	}
	return c.refs, c.uuids
}

// PatientRefs returns the ids of the Patients a resource references
// through the parameters that put its type into the Patient compartment,
// in parameter order, once each and only UUIDs. For a Patient these are
// its links, not itself. The store inherits these Patients' accounts.
func PatientRefs(resourceType string, rows *Rows) []string {
	if rows == nil {
		return nil
	}
	var out []string
	for _, param := range fhir.PatientCompartmentParams(resourceType) {
		for _, ref := range rows.References {
			if ref.Param == param && ref.TargetType == "Patient" && IsUUID(ref.TargetID) && !slices.Contains(out, ref.TargetID) {
				out = append(out, ref.TargetID)
			}
		}
	}
	return out
}

// compartmentSet collects compartment references in order, once each.
type compartmentSet struct {
	refs, uuids []string
}

func (c *compartmentSet) add(typ, id string) {
	if !IsUUID(id) {
		return
	}
	ref := typ + "/" + id
	for _, r := range c.refs {
		if r == ref {
			return
		}
	}
	c.refs = append(c.refs, ref)
	for _, u := range c.uuids {
		if u == id {
			return
		}
	}
	c.uuids = append(c.uuids, id)
}

// accountRefs returns the reference strings of meta.accounts, or of
// meta.account when accounts is absent.
func accountRefs(meta map[string]any) []string {
	var out []string
	add := func(v any) {
		if m, ok := v.(map[string]any); ok {
			if s := str(m, "reference"); s != "" {
				out = append(out, s)
			}
		}
	}
	if _, ok := meta["accounts"]; ok {
		each(meta, "accounts", add)
	} else {
		add(meta["account"])
	}
	return out
}

// IsUUID reports whether s is a UUID in its canonical 8-4-4-4-12 hex form
// (either case), the only ids that enter compartments.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
