package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/wardhealth/ward"
)

// The audit trail of identity and administration (issue 11). Each audited
// route yields exactly one ward.AuditRecord: audited holds the response
// back, lets the handler note who the caller turned out to be and what it
// changed, records, and only then answers. Which trail a record joins is
// decided by what was proven, never by what was asked for: the caller's
// membership, the signing-in user's own scope, else the server's.

// Audit kinds (ward.AuditRecord.Kind).
const (
	kindLogin = "login" // DICOM 110114 User Authentication and identity events
	kindRest  = "rest"  // admin writes
)

// event is the record of one audited request, filled in as the handler
// learns who the caller is.
type event struct {
	// rec is access's record: the store records each write the request
	// makes in the write's own transaction from what it says then (who,
	// from where), and audited records the event itself after.
	rec    *ward.AuditRecord
	access *ward.Access
	// failedLogin marks a refused sign-in: a failure to record it must not
	// change the refusal into anything else.
	failedLogin bool
	// skip drops the record: the request turned out to be no event (the
	// authorize endpoint only sending the browser to the sign-in page).
	skip bool
}

type eventKey struct{}

// eventOf is the event of ctx's audited request, nil outside one.
func eventOf(ctx context.Context) *event {
	ev, _ := ctx.Value(eventKey{}).(*event)
	return ev
}

// audited wraps h so that each request is recorded as interaction (kind,
// action) in the audit log before its answer leaves. With no audit log it
// is h.
func (s *Service) audited(kind, interaction, action string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Audit == nil {
			h(w, r)
			return
		}
		access := &ward.Access{Record: s.newRecord(r, kind, interaction, action)}
		ev := &event{rec: &access.Record, access: access}
		// The HTTP layer names each request in this header, and in its log line.
		ev.rec.RequestID = w.Header().Get("X-Request-Id")
		held := newHeldResponse()
		h(held, r.WithContext(ward.NewContextWithAccess(context.WithValue(r.Context(), eventKey{}, ev), access)))
		if ev.skip {
			held.sendTo(w)
			return
		}
		ev.settle(held.code(), held.body.Bytes())
		if err := s.cfg.Audit.Record(r.Context(), ev.rec); err != nil && !ev.failedLogin {
			s.cfg.Logger.ErrorContext(r.Context(), "audit record failed", "interaction", ev.rec.Interaction, "error", err)
			writeError(w, r, ward.Errorf(ward.EINTERNAL, "audit record failed"))
			return
		} else if err != nil {
			s.cfg.Logger.ErrorContext(r.Context(), "audit record of a failed login failed", "error", err)
		}
		held.sendTo(w)
	}
}

// newRecord starts the record of r in the server's trail: a request
// belongs to a project only once a caller is proven.
func (s *Service) newRecord(r *http.Request, kind, interaction, action string) ward.AuditRecord {
	return ward.AuditRecord{
		Time:        s.cfg.Now().UTC().Truncate(1e6),
		ProjectID:   ward.SystemProjectID,
		Kind:        kind,
		Action:      action,
		Interaction: interaction,
		Address:     remoteAddress(r),
		UserAgent:   r.UserAgent(),
		Results:     -1,
	}
}

// settle sets the outcome from the answer's status, and for a refusal the
// reason the answer gave unless the handler named one.
func (ev *event) settle(status int, body []byte) {
	ev.rec.Status = status
	switch {
	case status >= 500:
		ev.rec.Outcome = "8"
	case status >= 400:
		ev.rec.Outcome = "4"
	default:
		ev.rec.Outcome = "0"
	}
	if status >= 400 && ev.rec.Reason == "" {
		ev.rec.Reason = reasonOf(body)
	}
}

// reasonOf is the text of an error answer: OAuth's error_description or
// the OperationOutcome's first issue. Neither ever carries a credential.
func reasonOf(body []byte) string {
	var answer struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Issue       []struct {
			Details *struct {
				Text string `json:"text"`
			} `json:"details"`
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &answer) != nil {
		return ""
	}
	switch {
	case answer.Description != "":
		return answer.Description
	case answer.Error != "":
		return answer.Error
	case len(answer.Issue) > 0 && answer.Issue[0].Details != nil && answer.Issue[0].Details.Text != "":
		return answer.Issue[0].Details.Text
	case len(answer.Issue) > 0:
		return answer.Issue[0].Diagnostics
	}
	return ""
}

// noteInteraction renames the event (a refresh on the token endpoint).
func noteInteraction(ctx context.Context, interaction string) {
	if ev := eventOf(ctx); ev != nil {
		ev.rec.Interaction = interaction
	}
}

// noteTarget names the resource an admin write changed.
func noteTarget(ctx context.Context, typ, id string) {
	if ev := eventOf(ctx); ev != nil {
		ev.rec.ResourceType, ev.rec.ResourceID = typ, id
	}
}

// noteSkip drops the event's record unless a sign-in failed in it.
func noteSkip(ctx context.Context) {
	if ev := eventOf(ctx); ev != nil && !ev.failedLogin {
		ev.skip = true
	}
}

// noteCaller records an authenticated caller: its membership's project
// is the trail.
func noteCaller(ctx context.Context, c *Caller) {
	ev := eventOf(ctx)
	if ev == nil || c == nil {
		return
	}
	if c.Principal != nil {
		ev.rec.ProjectID = c.Principal.ProjectID
		ev.rec.Profile = c.Principal.Author
		if c.Principal.ClientID != "" {
			ev.rec.Client = "ClientApplication/" + c.Principal.ClientID
		}
	}
	if c.Membership != nil {
		ev.rec.Membership = "ProjectMembership/" + c.Membership.ID
		if c.Membership.User != nil {
			ev.rec.User = c.Membership.User.Reference
		}
		if c.Membership.Profile != nil {
			ev.rec.Profile = c.Membership.Profile.Reference
		}
	}
	if c.Login != nil && c.Login.User != nil {
		ev.rec.User = c.Login.User.Reference
	}
}

// noteUser records the user signing in; until a membership is chosen the
// record belongs to the user's own scope: its project for a
// project-scoped user, the server's for a server-scoped one.
func noteUser(ctx context.Context, u *User) {
	ev := eventOf(ctx)
	if ev == nil || u == nil {
		return
	}
	ev.rec.User = "User/" + u.ID
	if pid := referenceID(u.Project); pid != "" {
		ev.rec.ProjectID = pid
	}
}

// noteLoginMembership records a Login and the membership it chose: the
// membership's project is the trail (the Login's own project field is
// merely what the sign-in asked for).
func noteLoginMembership(ctx context.Context, login *Login, m *Membership) {
	ev := eventOf(ctx)
	if ev == nil {
		return
	}
	if login.User != nil {
		ev.rec.User = login.User.Reference
	}
	if id := refID(login.Client, "ClientApplication"); id != "" {
		ev.rec.Client = "ClientApplication/" + id
	}
	noteMembership(ctx, m)
}

// noteReuse marks a refresh with a stale refresh secret: the token
// leaked. The token's signature proves its Login, so the record joins its
// membership's trail, where the project's admins look.
func (s *Service) noteReuse(ctx context.Context, login *Login) {
	ev := eventOf(ctx)
	if ev == nil {
		return
	}
	ev.rec.Interaction = "refresh-reuse"
	ev.rec.Reason = "refresh token reused"
	var m Membership
	id := refID(login.Membership, "ProjectMembership")
	if _, err := s.readJSON(ctx, "ProjectMembership", id, &m, loginProject(login)); err != nil {
		m = Membership{}
	}
	m.ID = id
	noteLoginMembership(ctx, login, &m)
}

// noteMembership records the membership a caller proved: its project is
// the trail.
func noteMembership(ctx context.Context, m *Membership) {
	ev := eventOf(ctx)
	if ev == nil || m == nil {
		return
	}
	if m.ID != "" {
		ev.rec.Membership = "ProjectMembership/" + m.ID
	}
	if pid := referenceID(m.Project); pid != "" {
		ev.rec.ProjectID = pid
	}
	if m.User != nil && ev.rec.User == "" {
		ev.rec.User = m.User.Reference
	}
	if m.Profile != nil {
		ev.rec.Profile = m.Profile.Reference
	}
}

// reasonRateLimited is the reason of a sign-in the login limiter refused.
const reasonRateLimited = "rate limited"

// noteFailedLogin turns the event into a refused sign-in. It reports
// whether an audited request took it; outside one (Basic credentials on a
// FHIR request) the caller records it alone.
func noteFailedLogin(ctx context.Context, f LoginFailure) bool {
	ev := eventOf(ctx)
	if ev == nil {
		return false
	}
	ev.failedLogin = true
	ev.rec.Kind, ev.rec.Action = kindLogin, "E"
	ev.rec.Reason = f.Reason
	if f.ClientID != "" && ev.rec.Client == "" {
		ev.rec.Client = "ClientApplication/" + f.ClientID
	}
	return true
}

// recordAlone records an identity event that happens outside an audited
// route: Basic client credentials on a FHIR request.
func (s *Service) recordAlone(ctx context.Context, rec ward.AuditRecord) error {
	if s.cfg.Audit == nil {
		return nil
	}
	if err := s.cfg.Audit.Record(ctx, &rec); err != nil {
		s.cfg.Logger.ErrorContext(ctx, "audit record failed", "interaction", rec.Interaction, "error", err)
		return ward.Errorf(ward.EINTERNAL, "audit record failed")
	}
	return nil
}

// heldResponse keeps a handler's answer until its record is durable.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newHeldResponse() *heldResponse { return &heldResponse{header: http.Header{}} }

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *heldResponse) Write(p []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return h.body.Write(p)
}

// code is the status the handler answered (200 when it only wrote a body).
func (h *heldResponse) code() int {
	if h.status == 0 {
		return http.StatusOK
	}
	return h.status
}

// sendTo writes the held answer to w.
func (h *heldResponse) sendTo(w http.ResponseWriter) {
	for k, v := range h.header {
		w.Header()[k] = v
	}
	w.WriteHeader(h.code())
	_, _ = w.Write(h.body.Bytes())
}

// failedLoginRecord is the record of a refused client sign-in outside an
// audited route: the client's secret was wrong, so no caller (and no
// project) was proven.
func (s *Service) failedLoginRecord(f LoginFailure) ward.AuditRecord {
	status := http.StatusUnauthorized
	if f.Reason == reasonRateLimited {
		status = http.StatusTooManyRequests
	}
	rec := ward.AuditRecord{
		Time: s.cfg.Now().UTC().Truncate(1e6), ProjectID: ward.SystemProjectID,
		Kind: kindLogin, Action: "E", Interaction: "login",
		Outcome: "4", Status: status, Reason: f.Reason,
		Address: f.RemoteAddress, Results: -1,
	}
	if f.ClientID != "" {
		rec.Client = "ClientApplication/" + f.ClientID
	}
	return rec
}

// clientLoginRecord is the record of a client's Basic sign-in on a FHIR
// request, in the project of the client's membership.
func (s *Service) clientLoginRecord(r *http.Request, c *Caller) ward.AuditRecord {
	rec := s.newRecord(r, kindLogin, "login", "E")
	rec.Outcome, rec.Status = "0", http.StatusOK
	ev := &event{rec: &rec}
	noteCaller(context.WithValue(r.Context(), eventKey{}, ev), c)
	return rec
}

// keyRotationRecord is the record of a signing key rotation, a server
// event: it joins the server's trail.
func (s *Service) keyRotationRecord(key *ward.Resource) ward.AuditRecord {
	return ward.AuditRecord{
		Time: s.cfg.Now().UTC().Truncate(1e6), ProjectID: ward.SystemProjectID,
		Kind: kindRest, Action: "C", Interaction: "key-rotation",
		Outcome: "0", Results: -1,
		ResourceType: key.Type, ResourceID: key.ID,
	}
}
