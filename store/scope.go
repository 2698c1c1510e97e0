package store

import (
	"slices"

	"github.com/wardhealth/ward"
)

// The project wall by type (spec 4.2). A non-system caller reads its own
// project, plus, for some types, its linked projects and the FHIR R4
// project:
//   - admin types other than Project only in the own project;
//   - Project in every readable project (the policy narrows it further);
//   - a linked project's other types when it exports them (an empty
//     exportedResourceType exports every non-admin type);
//   - the R4 project's definition types, always.

// isR4Type reports the types every project reads from the FHIR R4
// project: its definitions, and the project itself.
func isR4Type(typ string) bool {
	return ward.IsDefinitionType(typ) || typ == "Project"
}

// readProjectsFor returns the projects whose typ resources p may read, in
// order (own first); for the system principal its Home, nil for none (no
// limit).
func readProjectsFor(p *ward.Principal, typ string) []string {
	if p.System {
		return p.Home
	}
	out := []string{p.ProjectID}
	if ward.IsProjectAdminType(typ) && typ != "Project" || ward.IsProtectedType(typ) {
		return out
	}
	for _, id := range p.ReadProjects {
		if id != p.ProjectID && id != ward.R4ProjectID && exports(p.ReadProjectTypes[id], typ) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if p.ProjectID != ward.R4ProjectID && isR4Type(typ) {
		out = append(out, ward.R4ProjectID)
	}
	return out
}

func exports(types []string, typ string) bool {
	return typ == "Project" || len(types) == 0 || slices.Contains(types, typ)
}

// allReadProjects is every project p may read some type of; for System its
// Home (nil: no limit).
func allReadProjects(p *ward.Principal) []string {
	if p.System {
		return p.Home
	}
	out := []string{p.ProjectID}
	for _, id := range p.ReadProjects {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if !slices.Contains(out, ward.R4ProjectID) {
		out = append(out, ward.R4ProjectID)
	}
	return out
}

// scopeWriter writes the typed wall; the compiler and the plain read
// queries share it.
type scopeWriter struct {
	w   func(s ...string)
	arg func(v any)
}

// wall writes " AND col IN (…)" for typ, or for typ "" the per-project
// condition on typeCol. Nothing for the system principal.
func (sw scopeWriter) wall(p *ward.Principal, typ, col, typeCol string) {
	if p.System {
		if len(p.Home) > 0 {
			sw.in(col, p.Home)
		}
		return
	}
	if typ != "" {
		sw.in(col, readProjectsFor(p, typ))
		return
	}
	sw.w(" AND (", col, " = ")
	sw.arg(p.ProjectID)
	for _, id := range allReadProjects(p) {
		if id == p.ProjectID {
			continue
		}
		sw.w(" OR (", col, " = ")
		sw.arg(id)
		switch types := p.ReadProjectTypes[id]; {
		case id == ward.R4ProjectID:
			sw.w(" AND ", typeCol, " IN ('StructureDefinition', 'SearchParameter', 'ValueSet', 'CodeSystem', 'OperationDefinition', 'Project')")
		case len(types) == 0:
			sw.w(" AND ", typeCol, " NOT IN ('ProjectMembership', 'User', 'UserSecurityRequest', 'DomainConfiguration', 'JsonWebKey', 'Login')")
		default:
			sw.w(" AND ", typeCol, " IN ('Project'")
			for _, t := range types {
				if !ward.IsProjectAdminType(t) && !ward.IsProtectedType(t) {
					sw.w(", ")
					sw.arg(t)
				}
			}
			sw.w(")")
		}
		sw.w(")")
	}
	sw.w(")")
}

func (sw scopeWriter) in(col string, ids []string) {
	if len(ids) == 1 {
		sw.w(" AND ", col, " = ")
		sw.arg(ids[0])
		return
	}
	sw.w(" AND ", col, " IN (")
	for i, id := range ids {
		if i > 0 {
			sw.w(", ")
		}
		sw.arg(id)
	}
	sw.w(")")
}

// clauseBuilder collects SQL text and args for the plain queries.
type clauseBuilder struct {
	sql  []byte
	args []any
}

func (b *clauseBuilder) writer() scopeWriter {
	return scopeWriter{
		w: func(s ...string) {
			for _, x := range s {
				b.sql = append(b.sql, x...)
			}
		},
		arg: func(v any) { b.sql = append(b.sql, '?'); b.args = append(b.args, v) },
	}
}

// projectClause returns the typed wall for the plain queries (read,
// vread, history): " AND …" and its args, "" for System.
func projectClause(p *ward.Principal, typ, col, typeCol string) (string, []any) {
	var b clauseBuilder
	b.writer().wall(p, typ, col, typeCol)
	return string(b.sql), b.args
}
