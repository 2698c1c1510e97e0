package ward

import "context"

// Principal is the caller of a request: the project it acts in and what it
// may see there. Every store call reads it from the context and compiles it
// into the SQL it issues; a context without a Principal cannot query at all.
type Principal struct {
	// ProjectID is the project the caller acts in. Reads are limited to it
	// (and ReadProjects); writes always land in it.
	ProjectID string
	// ReadProjects lists further projects readable but not writable
	// (linked projects). Empty for now.
	ReadProjects []string
	// ReadProjectTypes restricts what each linked project exposes: linked
	// project id → its exportedResourceType. An absent or empty list means
	// every non-admin type. R4ProjectID is always limited to the
	// definition types whatever this says.
	ReadProjectTypes map[string][]string
	// System marks an explicit system or super-admin principal that may act
	// across projects. It is never set from request input.
	System bool
	// Home, for a System principal, are the projects the rows it reads
	// live in when its caller knows them (identity lookups: a Login in the
	// system project, a Project in its own row's project): its reads are
	// limited to them, one shard each on Citus, instead of every project.
	// A read by id that finds nothing there looks in every project. Empty:
	// every project. Ignored for other principals.
	Home []string
	// Internal marks server internals (SystemPrincipal and the identity
	// service's own reads): only they get SecretFields back from the
	// store. A request's principal never has it, a super admin's included.
	Internal bool
	// OnBehalfOf is the profile (or membership) reference a project
	// admin acts for (X-Medplum-On-Behalf-Of, spec 2.14): the request
	// runs with that membership's policy and admin flag, meta.author stays
	// the admin and meta.onBehalfOf names this. "" otherwise.
	OnBehalfOf string
	// Author is the reference written to meta.author, e.g. "Practitioner/…"
	// (the membership profile).
	Author string

	// Admin marks a project administrator (ProjectMembership.admin).
	Admin bool
	// Policy is the effective access policy the store enforces. nil means
	// no restriction beyond the project walls: system principals and tests.
	Policy *Policy
	// CheckReferences is Project.checkReferencesOnWrite: every reference
	// written must resolve for this caller.
	CheckReferences bool
	// DefaultProfiles is Project.defaultProfile by resource type: a
	// resource written without meta.profile gets its type's profiles.
	DefaultProfiles map[string][]string
	// Extended is true when the request sent "X-Medplum: extended". The
	// http layer sets it on its own copy of the principal per request.
	// With Admin or System it lets the caller write meta.accounts (spec
	// 3.2); internal system writes are extended, as Medplum's system
	// repository is.
	Extended bool

	// Identity of the caller, empty for system principals.
	LoginID      string // Login resource id ("" for Basic client auth)
	MembershipID string // ProjectMembership id
	User         string // "User/…" or "ClientApplication/…"
	ClientID     string // ClientApplication id when the login used one
	Scope        string // granted OAuth scope
}

type principalKey struct{}

// NewContextWithPrincipal returns a copy of ctx carrying p.
func NewContextWithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the caller, or nil when there is none.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// SystemPrincipalIn is SystemPrincipal reading in home only (Home).
func SystemPrincipalIn(home ...string) *Principal {
	p := SystemPrincipal()
	p.Home = home
	return p
}

// SystemPrincipal acts across every project. Use it only for server
// internals (migrations, reindex, seeding), never for a request.
func SystemPrincipal() *Principal {
	return &Principal{System: true, Internal: true, Author: "system", Extended: true}
}
