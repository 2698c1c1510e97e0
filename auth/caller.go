package auth

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/access"
)

// Caller is an authenticated request's identity: the principal the store
// enforces plus the resources auth endpoints decide on.
type Caller struct {
	Principal  *ward.Principal
	Login      *Login // nil for Basic client auth
	Membership *Membership
	Project    *Project
	User       *User   // nil when the membership user is a ClientApplication
	Client     *Client // the ClientApplication of a client login, else nil
	// AccessPolicy is the computed policy JSON /auth/me returns.
	AccessPolicy map[string]any
}

// SuperAdmin reports membership of a superAdmin project.
func (c *Caller) SuperAdmin() bool { return c.Project != nil && c.Project.SuperAdmin }

// Admin reports a project admin (or super admin).
func (c *Caller) Admin() bool { return c.SuperAdmin() || (c.Membership != nil && c.Membership.Admin) }

// unauthorized is the answer to missing, bad, expired or revoked credentials.
func unauthorized() error { return ward.Errorf(ward.EUNAUTHORIZED, "Unauthorized") }

// callerOf authenticates r (Bearer JWT or Basic client credentials).
// EUNAUTHORIZED when it carries no valid credentials.
func (s *Service) callerOf(ctx context.Context, r *http.Request) (*Caller, error) {
	c, err := s.credentialsCaller(ctx, r)
	noteCaller(ctx, c)
	return c, err
}

// credentialsCaller is callerOf without the audit note.
func (s *Service) credentialsCaller(ctx context.Context, r *http.Request) (*Caller, error) {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer") && cred != "":
		return s.bearerCaller(ctx, strings.TrimSpace(cred))
	case strings.EqualFold(scheme, "Basic") && cred != "":
		id, secret, ok := decodeBasic(strings.TrimSpace(cred))
		if !ok {
			return nil, unauthorized()
		}
		return s.basicCaller(ctx, r, id, secret)
	}
	return nil, unauthorized()
}

// Authenticate is the FHIR API's caller resolution. The principal is a
// copy: the cached one is shared by concurrent requests.
func (s *Service) Authenticate(r *http.Request) (*ward.Principal, error) {
	c, err := s.callerOf(r.Context(), r)
	if err != nil {
		return nil, err
	}
	if v := r.Header.Get(onBehalfOfHeader); v != "" {
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		return s.onBehalfOf(r.Context(), c, v, strings.EqualFold(scheme, "Basic"))
	}
	p := *c.Principal
	return &p, nil
}

// decodeBasic splits base64(clientId:secret).
func decodeBasic(cred string) (id, secret string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return "", "", false
	}
	id, secret, ok = strings.Cut(string(raw), ":")
	return id, secret, ok && id != "" && secret != ""
}

// bearerCaller resolves an access token, from the cache when it was seen
// before and nothing it depends on changed since.
func (s *Service) bearerCaller(ctx context.Context, token string) (*Caller, error) {
	key := bearerKey(token)
	now := s.cfg.Now()
	if c := s.cache.get(key, now); c != nil {
		return c, nil
	}
	before := s.cache.writes.Load()
	claims, err := s.parseAccessToken(ctx, token)
	if err != nil {
		return nil, err
	}
	c, err := s.loginCaller(ctx, claims.LoginID)
	if err != nil {
		return nil, err
	}
	expires := now.Add(cacheMaxAge)
	if claims.ExpiresAt != nil && claims.ExpiresAt.Before(expires) {
		expires = claims.ExpiresAt.Time
	}
	s.cache.put(key, &cacheEntry{caller: c, expires: expires, loginID: claims.LoginID}, before, now)
	return c, nil
}

// loginCaller builds the caller of a Login: it must exist, not be revoked
// and have chosen a membership.
func (s *Service) loginCaller(ctx context.Context, loginID string) (*Caller, error) {
	var login Login
	if _, err := s.readJSON(ctx, "Login", loginID, &login); err != nil {
		return nil, notFoundIsUnauthorized(err)
	}
	membershipID := refID(login.Membership, "ProjectMembership")
	if login.Revoked || membershipID == "" {
		return nil, unauthorized()
	}
	c, err := s.scopedMembershipCaller(ctx, membershipID, loginProject(&login), login.Scope)
	if err != nil {
		return nil, err
	}
	c.Login = &login
	c.Principal.LoginID = login.ID
	c.Principal.Scope = login.Scope
	if id := refID(login.Client, "ClientApplication"); id != "" {
		c.Principal.ClientID = id
	}
	return c, nil
}

// basicCaller resolves Authorization: Basic clientId:secret. No Login is
// stored; the client acts through its own membership.
func (s *Service) basicCaller(ctx context.Context, r *http.Request, clientID, secret string) (*Caller, error) {
	key := basicKey(clientID, secret)
	now := s.cfg.Now()
	if c := s.cache.get(key, now); c != nil {
		return c, nil
	}
	before := s.cache.writes.Load()
	client, err := s.authenticClient(ctx, r, clientID, secret)
	if err != nil {
		return nil, notFoundIsUnauthorized(err)
	}
	m, err := s.clientMembership(ctx, client.ID)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, unauthorized()
	}
	c, err := s.memberCaller(ctx, m)
	if err != nil {
		return nil, err
	}
	c.Principal.ClientID = client.ID
	if eventOf(ctx) == nil {
		// A FHIR request: the sign-in is recorded on its own, once per
		// verified secret (a cached caller is not signed in again).
		if err := s.recordAlone(ctx, s.clientLoginRecord(r, c)); err != nil {
			return nil, err
		}
	}
	s.cache.put(key, &cacheEntry{caller: c, expires: now.Add(cacheMaxAge)}, before, now)
	return c, nil
}

// authenticClient returns the client when secret is its secret (or its
// retiring secret) and it is active, EUNAUTHORIZED otherwise, ETOOMANY
// when the login limiter refuses the attempt (checkClientSecret).
func (s *Service) authenticClient(ctx context.Context, r *http.Request, clientID, secret string) (*Client, error) {
	var client Client
	if _, err := s.readJSON(ctx, "ClientApplication", clientID, &client); err != nil {
		return nil, err
	}
	if client.Status != "" && client.Status != "active" {
		return nil, unauthorized()
	}
	if err := s.checkClientSecret(ctx, r, &client, secret, unauthorized()); err != nil {
		return nil, err
	}
	return &client, nil
}

// secretMatches compares in constant time; an unset secret never matches.
func secretMatches(stored, given string) bool {
	return stored != "" && subtle.ConstantTimeCompare([]byte(stored), []byte(given)) == 1
}

// clientMembership returns the membership whose user is the client, or
// nil. It is looked for in the client's homes only (homesOf): a request
// with a client's id and secret names no project.
func (s *Service) clientMembership(ctx context.Context, clientID string) (*Membership, error) {
	ref := "ClientApplication/" + clientID
	homes, known, err := s.homesOf(ctx, ref)
	if err != nil || known && len(homes) == 0 {
		return nil, err
	}
	found, err := s.searchIn(ctx, "ProjectMembership", url.Values{"user": {ref}}, homes)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	return decodeAs[Membership](found[0])
}

// HomeStore is a store that tells where a client or a User authenticates
// (store.IdentityHomes): the projects of the client and of the
// memberships naming it. With one, a client's id and secret, and a
// sign-in without a project, read those projects only (one shard each on
// Citus) instead of every project.
type HomeStore interface {
	IdentityHomes(ctx context.Context, ref string) ([]string, error)
}

// homesOf returns the projects ref ("ClientApplication/<id>",
// "User/<id>") has its rows in; known is false when the store cannot
// tell (no HomeStore), and the lookup must then read every project. Known
// and none: there is no such client, and no membership of such a user —
// the store notes a home in the transaction of every such write.
func (s *Service) homesOf(ctx context.Context, ref string) (homes []string, known bool, err error) {
	hs, ok := s.store.(HomeStore)
	if !ok {
		return nil, false, nil
	}
	homes, err = hs.IdentityHomes(system(ctx), ref)
	return homes, err == nil, err
}

// searchIn runs a search as the system principal reading home only (nil:
// every project).
func (s *Service) searchIn(ctx context.Context, typ string, q url.Values, home []string) ([]*ward.Resource, error) {
	sq, err := parseSearch(typ, q)
	if err != nil {
		return nil, err
	}
	res, err := s.store.Search(systemIn(ctx, home...), sq)
	if err != nil {
		return nil, err
	}
	return res.Matches, nil
}

// membershipCaller loads a membership, its project and access policies and
// builds the principal the store enforces.
func (s *Service) membershipCaller(ctx context.Context, membershipID string) (*Caller, error) {
	return s.scopedMembershipCaller(ctx, membershipID, "", "")
}

// memberCaller is membershipCaller for a membership found by a search:
// read again in the project it names (one shard), not looked for in every
// project.
func (s *Service) memberCaller(ctx context.Context, m *Membership) (*Caller, error) {
	return s.scopedMembershipCaller(ctx, m.ID, refID(m.Project, "Project"), "")
}

// scopedMembershipCaller is membershipCaller for a login whose SMART
// scopes narrow the policy (spec 2.12).
// home is the project the membership is expected in ("": unknown).
func (s *Service) scopedMembershipCaller(ctx context.Context, membershipID, home, scope string) (*Caller, error) {
	var mJSON map[string]any
	mRes, err := s.readJSON(ctx, "ProjectMembership", membershipID, &mJSON, home)
	if err != nil {
		return nil, notFoundIsUnauthorized(err)
	}
	m, err := decodeAs[Membership](mRes)
	if err != nil {
		return nil, err
	}
	if m.Active != nil && !*m.Active {
		return nil, unauthorized()
	}
	var pJSON map[string]any
	pRes, err := s.readJSON(ctx, "Project", refID(m.Project, "Project"), &pJSON)
	if err != nil {
		return nil, notFoundIsUnauthorized(err)
	}
	project, err := decodeAs[Project](pRes)
	if err != nil {
		return nil, err
	}
	policies, err := s.membershipPolicies(ctx, m)
	if err != nil {
		return nil, err
	}
	policy, policyJSON, err := s.compiledPolicy(access.Input{Project: pJSON, Membership: mJSON, Policies: policies, Scope: scope})
	if err != nil {
		return nil, err
	}
	c := &Caller{Membership: m, Project: project, AccessPolicy: policyJSON}
	c.Principal = &ward.Principal{
		ProjectID:       project.ID,
		System:          project.SuperAdmin,
		Admin:           m.Admin,
		Policy:          policy,
		CheckReferences: project.CheckReferencesOnWrite,
		DefaultProfiles: project.defaultProfiles(),
		MembershipID:    m.ID,
	}
	if m.Profile != nil {
		c.Principal.Author = m.Profile.Reference
	}
	if m.User != nil {
		c.Principal.User = m.User.Reference
	}
	c.Principal.ReadProjects, c.Principal.ReadProjectTypes = s.readableProjects(ctx, project)
	if err := s.loadMember(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// loadMember fills the User or Client behind the membership.
func (s *Service) loadMember(ctx context.Context, c *Caller) error {
	if id := refID(c.Membership.User, "User"); id != "" {
		var u User
		if _, err := s.readJSON(ctx, "User", id, &u); err != nil {
			return notFoundIsUnauthorized(err)
		}
		u.PasswordHash = "" // a Caller never carries a credential
		c.User = &u
	} else if id := refID(c.Membership.User, "ClientApplication"); id != "" {
		var cl Client
		if _, err := s.readJSON(ctx, "ClientApplication", id, &cl, c.Project.ID); err != nil {
			return notFoundIsUnauthorized(err)
		}
		cl.Secret, cl.RetiringSecret = "", ""
		c.Client = &cl
		c.Principal.ClientID = cl.ID
	}
	return nil
}

// membershipPolicies reads every AccessPolicy the membership names. A
// missing one is left out: access.Build reports the configuration error.
func (s *Service) membershipPolicies(ctx context.Context, m *Membership) (map[string]map[string]any, error) {
	refs := []*Reference{m.AccessPolicy}
	for _, a := range m.Access {
		refs = append(refs, a.Policy)
	}
	out := map[string]map[string]any{}
	for _, ref := range refs {
		id := refID(ref, "AccessPolicy")
		if id == "" || out[ref.Reference] != nil {
			continue
		}
		var p map[string]any
		if _, err := s.readJSON(ctx, "AccessPolicy", id, &p, refID(m.Project, "Project")); err != nil {
			if c := ward.ErrorCode(err); c == ward.ENOTFOUND || c == ward.EGONE {
				continue
			}
			return nil, err
		}
		out[ref.Reference] = p
	}
	return out, nil
}

// compiledPolicy is access.Build once per version of its inputs: the
// membership, its project and policies (by versionId) and the scope. A
// new token of an unchanged membership reuses the compiled policy; any
// write to one of them makes a new key, so no stale policy is served.
func (s *Service) compiledPolicy(in access.Input) (*ward.Policy, map[string]any, error) {
	key := policyKey(in)
	if c := s.cache.policy(key); c != nil {
		return c.policy, c.json, nil
	}
	before := s.cache.writes.Load()
	policy, js, err := access.Build(in)
	if err != nil {
		return nil, nil, err
	}
	s.cache.putPolicy(key, &compiled{policy: policy, json: js}, before)
	return policy, js, nil
}

// policyKey names the versions a compiled policy was built from.
func policyKey(in access.Input) string {
	var b strings.Builder
	writeVersion := func(res map[string]any) {
		id, _ := res["id"].(string)
		meta, _ := res["meta"].(map[string]any)
		v, _ := meta["versionId"].(string)
		b.WriteString(id)
		b.WriteByte('@')
		b.WriteString(v)
		b.WriteByte(' ')
	}
	writeVersion(in.Membership)
	writeVersion(in.Project)
	refs := make([]string, 0, len(in.Policies))
	for ref := range in.Policies {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	for _, ref := range refs {
		writeVersion(in.Policies[ref])
	}
	b.WriteString(in.Scope)
	return b.String()
}

// readableProjects are the linked projects that exist, with what each
// exports, plus the FHIR R4 project (spec 4.2, 4.4).
func (s *Service) readableProjects(ctx context.Context, p *Project) ([]string, map[string][]string) {
	ids := []string{}
	types := map[string][]string{}
	for _, l := range p.Link {
		id := refID(l.Project, "Project")
		if id == "" || id == p.ID || types[id] != nil {
			continue
		}
		var linked Project
		if _, err := s.readJSON(ctx, "Project", id, &linked); err != nil {
			continue // links to missing projects are ignored
		}
		ids = append(ids, id)
		types[id] = append([]string{}, linked.ExportedResourceType...)
	}
	if p.ID != ward.R4ProjectID {
		ids = append(ids, ward.R4ProjectID)
		types[ward.R4ProjectID] = ward.DefinitionTypes()
	}
	return ids, types
}

// notFoundIsUnauthorized turns a missing identity resource into 401: a
// token whose login or membership is gone is simply no longer valid.
func notFoundIsUnauthorized(err error) error {
	switch ward.ErrorCode(err) {
	case ward.ENOTFOUND, ward.EGONE, ward.EUNAUTHORIZED, ward.EINVALID:
		return unauthorized()
	}
	return err
}
