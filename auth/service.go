package auth

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/search"
)

// Config is the server configuration identity needs.
type Config struct {
	// BaseURL is the server's public URL with a trailing slash; it is the
	// token issuer and the base of every URL the endpoints hand out.
	BaseURL string
	// AppBaseURL is where the sign-in page lives ("" = BaseURL).
	AppBaseURL string
	// AdminPassword is the seeded super admin's password; "" means a random
	// one, printed once to the log.
	AdminPassword string
	// RegistrationDisabled turns off /auth/newuser and /auth/newproject.
	RegistrationDisabled bool
	// BcryptCost for new password hashes (>= 10; tests may lower it to bcrypt.MinCost).
	BcryptCost int
	// SharedLoginLimits keeps the sign-in and MFA attempt limits in the
	// store (an AttemptStore), so a fleet's processes spend from the same
	// buckets; off, each process limits alone (one process per database).
	SharedLoginLimits bool
	// AccessTokenLifetime and RefreshTokenLifetime default to 1 h and 2 weeks.
	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger for security events.
	Logger *slog.Logger
	// LoginFailed is called for every failed login (which Audit records
	// too).
	LoginFailed func(ctx context.Context, f LoginFailure)
	// Audit keeps the audit trail of identity and administration events
	// (audit.go); nil records nothing.
	Audit ward.AuditLog
	// SendEmail delivers an email (invites). nil logs it at info level and
	// succeeds.
	SendEmail func(ctx context.Context, to, subject, body string) error
	// Feed is what the change feed's admin routes (feedadmin.go) know of
	// ward serve's sinks; zero: none connected.
	Feed FeedSettings
}

// LoginFailure describes one failed login attempt.
type LoginFailure struct {
	Email         string
	ClientID      string
	RemoteAddress string
	Reason        string
}

// Service implements identity over a resource store.
type Service struct {
	store ward.ResourceStore
	cfg   Config
	keys  *keyRing
	cache *principalCache
	limit *limiter
	mfa   *mfaGuard
}

// New returns a Service over st. Call Seed before serving.
func New(st ward.ResourceStore, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = 10
	}
	if cfg.AccessTokenLifetime == 0 {
		cfg.AccessTokenLifetime = time.Hour
	}
	if cfg.RefreshTokenLifetime == 0 {
		cfg.RefreshTokenLifetime = 14 * 24 * time.Hour
	}
	if cfg.AppBaseURL == "" {
		cfg.AppBaseURL = cfg.BaseURL
	}
	s := &Service{store: st, cfg: cfg}
	s.setup()
	return s
}

// Handler serves the identity endpoints. Mount it next to the FHIR API.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	s.mountTokens(mux)  // tokens.go: /oauth2/token, /oauth2/logout, /oauth2/userinfo, /auth/me, /.well-known/*
	s.mountLogin(mux)   // login.go: /auth/method, /auth/login, /auth/profile, /auth/scope, /oauth2/authorize, registration
	s.mountAdmin(mux)   // admin.go: /admin/projects/...
	s.mountBackups(mux) // backup.go: /admin/projects/{id}/backup, /admin/projects/restore
	s.mountFeed(mux)    // feedadmin.go: /admin/projects/{id}/feed, /admin/feed
	s.mountMFA(mux)     // mfa.go: /auth/mfa/...
	return mux
}

// system returns ctx acting as the system principal, for identity reads
// and writes that no caller's policy governs.
func system(ctx context.Context) context.Context {
	return ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal())
}

// inProject returns ctx acting in projectID with no policy: the project
// wall only. Reads by id then use the primary key. Like system, it is
// Internal: identity checks read secrets (password hashes) through it.
func inProject(ctx context.Context, projectID string) context.Context {
	return ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: projectID, Internal: true})
}

// systemIn is system reading in home (ward.Principal.Home): where the
// rows it reads live, so each lookup goes to one shard on Citus.
func systemIn(ctx context.Context, home ...string) context.Context {
	return ward.NewContextWithPrincipal(ctx, ward.SystemPrincipalIn(home...))
}

// homeOf is where typ/id lives when its type tells: Logins, keys and
// server-scoped Users in the system project, a Project in its own
// project; nil (every project) otherwise. A read by id that misses its
// home looks everywhere (a project-scoped User), so a wrong guess costs a
// fan-out, never a wrong answer.
func homeOf(typ, id string) []string {
	switch typ {
	case "Login", "JsonWebKey", "User":
		return []string{ward.SystemProjectID}
	case "Project":
		return []string{id}
	}
	return nil
}

// viewer returns ctx acting as a system reader that is not Internal, for
// identity resources answered to a client (/auth/me, the admin API): they
// pass the store's output gate like every FHIR answer, so no secret
// leaves. Extended, as Medplum's identity answers show meta in full.
// home is Principal.Home.
func viewer(ctx context.Context, home ...string) context.Context {
	return ward.NewContextWithPrincipal(ctx, &ward.Principal{System: true, Extended: true, Author: "system", Home: home})
}

// answer is an admin handler's reply carrying res as a client may see it:
// read again through viewer (res itself came from an internal write).
func (s *Service) answer(ctx context.Context, status int, res *ward.Resource) (int, any, error) {
	shown, err := s.store.Read(viewer(ctx, res.ProjectID), res.Type, res.ID)
	if err != nil {
		return 0, nil, err
	}
	return status, json.RawMessage(shown.Content), nil
}

// readShown is readJSON through viewer: what a client may see of typ/id.
func (s *Service) readShown(ctx context.Context, typ, id string, v any, home ...string) error {
	if len(home) == 0 || home[0] == "" {
		home = homeOf(typ, id)
	}
	res, err := s.store.Read(viewer(ctx, home...), typ, id)
	if err != nil {
		return err
	}
	return json.Unmarshal(res.Content, v)
}

// Reference is a FHIR Reference as identity resources use it.
type Reference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

// readJSON reads the current version of typ/id with the system principal
// and decodes it into v (a struct or map). home is where the caller
// expects the row (ward.Principal.Home); none: homeOf's guess.
func (s *Service) readJSON(ctx context.Context, typ, id string, v any, home ...string) (*ward.Resource, error) {
	if len(home) == 0 || home[0] == "" {
		home = homeOf(typ, id)
	}
	if typ == "ClientApplication" && home == nil {
		// A client's id alone names no project: its home does (caller.go).
		homes, known, err := s.homesOf(ctx, "ClientApplication/"+id)
		if err != nil {
			return nil, err
		}
		if known && len(homes) == 0 {
			return nil, ward.Errorf(ward.ENOTFOUND, "Not found")
		}
		home = homes
	}
	res, err := s.store.Read(systemIn(ctx, home...), typ, id)
	if err != nil {
		return nil, err
	}
	return res, json.Unmarshal(res.Content, v)
}

// searchHome is where every row a search of typ can match lives, when
// the search tells: Logins and keys are the system project's, and a
// ProjectMembership lies in the project its project element names.
func searchHome(typ string, q url.Values) []string {
	if typ == "Login" || typ == "JsonWebKey" {
		return []string{ward.SystemProjectID}
	}
	if id, ok := strings.CutPrefix(q.Get("project"), "Project/"); ok && typ == "ProjectMembership" && id != "" && len(q["project"]) == 1 {
		return []string{id}
	}
	return nil
}

// searchSystem runs a search with the system principal. q is the query
// string after "Type?", e.g. "email=a@b.c".
func (s *Service) searchSystem(ctx context.Context, typ string, q url.Values) ([]*ward.Resource, error) {
	sq, err := parseSearch(typ, q)
	if err != nil {
		return nil, err
	}
	res, err := s.store.Search(systemIn(ctx, searchHome(typ, q)...), sq)
	if err != nil {
		return nil, err
	}
	return res.Matches, nil
}

// writeSystem stores v (a resource struct or map with resourceType and,
// for an update, id) with the system principal in project projectID, and
// returns the stored resource. An empty id creates.
func (s *Service) writeSystem(ctx context.Context, projectID, typ, id string, v any) (*ward.Resource, error) {
	body, err := withProject(v, projectID)
	if err != nil {
		return nil, err
	}
	var out *ward.Resource
	// The row of an update is looked for in projectID first.
	err = s.store.Write(systemIn(ctx, projectID), func(ctx context.Context, tx ward.ResourceTx) error {
		var err error
		if id == "" {
			out, err = tx.Create(ctx, typ, body)
		} else {
			out, _, err = tx.Update(ctx, typ, id, body, "")
		}
		return err
	})
	return out, err
}

// withProject encodes v with meta.project set, which is how a system
// write names its project.
func withProject(v any, projectID string) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	meta, _ := m["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["project"] = projectID
	m["meta"] = meta
	return json.Marshal(m)
}

// decodeBody reads a JSON request body (Medplum's client sends
// application/fhir+json even to /auth and /admin) into v.
func decodeBody(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return ward.Errorf(ward.EINVALID, "Could not read request body")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return ward.Errorf(ward.EINVALID, "Invalid JSON")
	}
	return nil
}

// writeJSON sends v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError sends err as a Medplum OperationOutcome.
func writeError(w http.ResponseWriter, r *http.Request, err error) { wardhttp.Error(w, r, err) }

// badRequest is a 400 whose issue names the offending field, as Medplum's
// validation errors do ("Valid email address is required", expression "email").
func badRequest(field, text string) error {
	return &ward.Error{Code: ward.EINVALID, Message: text, Expression: []string{field}}
}

func parseSearch(typ string, q url.Values) (*ward.SearchQuery, error) { return search.Parse(typ, q) }
