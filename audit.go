package ward

import (
	"context"
	"sync/atomic"
	"time"
)

// AuditRecord is one access to data or to identity, allowed or refused, as
// the server saw it. The audit log turns it into a FHIR AuditEvent shaped
// as IHE BALP (Basic Audit Log Patterns) and keeps it in ProjectID's
// tamper-evident trail.
type AuditRecord struct {
	// Time of the access (millisecond precision).
	Time time.Time
	// ProjectID is the trail the record belongs to: the caller's project,
	// or SystemProjectID when no caller could be established (a 401). Never
	// the project a refused request tried to reach.
	ProjectID string

	// Kind is "rest" for FHIR interactions, "login" for user
	// authentication and the identity events (DICOM 110114).
	Kind string
	// Action is the FHIR AuditEvent action: C, R, U, D or E (execute:
	// searches, operations, batches, logins).
	Action string
	// Interaction names what was done: the FHIR restful interaction
	// (read, vread, history-instance, history-type, history-system,
	// search-type, search-system, create, update, patch, delete, batch,
	// transaction) or the operation ($graphql, $everything, …), or the
	// identity event (login, token, refresh, logout, password-change, …).
	Interaction string

	// Outcome is the FHIR AuditEvent outcome: "0" success, "4" minor
	// failure (a refusal: 4xx), "8" serious failure (a 5xx), "12" major.
	Outcome string
	// Status is the HTTP status answered; Reason a short text for refusals
	// and failed logins (never a password or token).
	Status int
	Reason string

	// Who: references as Medplum writes them ("User/…", "Practitioner/…",
	// "ProjectMembership/…", "ClientApplication/…"); empty when unknown.
	User       string
	Profile    string
	Membership string
	Client     string
	OnBehalfOf string

	// From where.
	Address   string
	UserAgent string
	// RequestID also appears in the request log line.
	RequestID string

	// What: the resource (type, id, version) the interaction concerned, the
	// query string of a search and how many resources it matched (-1 when
	// not counted).
	ResourceType string
	ResourceID   string
	VersionID    string
	Query        string
	Results      int
	// Patients are the patients whose data the access concerned ("Patient/…"):
	// a resource's patient compartment, or a search page's distinct
	// patients (bounded).
	Patients []string
}

// AuditLog keeps the audit trail.
type AuditLog interface {
	// Record makes rec durable in its project's trail and returns once it
	// is: callers answer the client only after Record returned. Many
	// concurrent records may share one commit.
	Record(ctx context.Context, rec *AuditRecord) error
}

// AuditVerification is what a walk of one project's audit chain found.
type AuditVerification struct {
	ProjectID string `json:"project"`
	// Checked counts the chain links verified before the first broken one
	// (all of them when OK).
	Checked int64 `json:"checked"`
	// Erased counts the checked links whose record an erasure removed
	// (the link stays, and names the erasure).
	Erased int64 `json:"erased,omitempty"`
	OK     bool  `json:"ok"`
	// BrokenSeq is the sequence number of the first broken link (0 when
	// OK); Problem says what is wrong there: "content changed", "record
	// missing", "seq gap", "prev_hash mismatch", or
	// "AuditEvent not in chain" (then EventID names it and BrokenSeq is the
	// chain length + 1), "erasure not recorded" or "erased record still
	// present".
	BrokenSeq int64  `json:"brokenSeq,omitempty"`
	Problem   string `json:"problem,omitempty"`
	EventID   string `json:"eventId,omitempty"`
}

// SetCaller fills the record's "who" from p, the request's principal:
// its project's trail, user, profile, membership, client application and
// on-behalf-of. A nil p (no caller could be established) leaves the
// record to the server's own trail.
func (r *AuditRecord) SetCaller(p *Principal) {
	if p == nil {
		r.ProjectID = SystemProjectID
		return
	}
	r.ProjectID, r.User, r.Profile, r.OnBehalfOf = p.ProjectID, p.User, p.Author, p.OnBehalfOf
	r.Membership, r.Client = "", ""
	if p.MembershipID != "" {
		r.Membership = "ProjectMembership/" + p.MembershipID
	}
	if p.ClientID != "" {
		r.Client = "ClientApplication/" + p.ClientID
	}
}

// Access is the request being served, as its audit record will describe
// it (when, from where, which interaction, the request id), carried in
// the context of the store calls that serve it. A store that keeps an
// audit trail records each resource such a call writes in the write's
// own transaction, and marks the Access: the write and its record commit
// together or not at all.
type Access struct {
	Record   AuditRecord
	recorded atomic.Bool
}

type accessKey struct{}

// NewContextWithAccess returns a copy of ctx carrying a.
func NewContextWithAccess(ctx context.Context, a *Access) context.Context {
	return context.WithValue(ctx, accessKey{}, a)
}

// AccessFromContext returns the access ctx serves, or nil.
func AccessFromContext(ctx context.Context) *Access {
	a, _ := ctx.Value(accessKey{}).(*Access)
	return a
}

// MarkWriteRecorded notes that a write a's request made is recorded, in
// the write's transaction, which has committed.
func (a *Access) MarkWriteRecorded() { a.recorded.Store(true) }

// WriteRecorded reports whether MarkWriteRecorded was called.
func (a *Access) WriteRecorded() bool { return a.recorded.Load() }
