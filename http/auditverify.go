package wardhttp

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/wardhealth/ward"
)

// AuditVerifier walks a project's audit hash chain (the store implements
// it and decides who may ask: a super admin, or the project's admin).
type AuditVerifier interface {
	VerifyAudit(ctx context.Context, projectID string) (ward.AuditVerification, error)
}

// AuditVerifyRoute is GET /fhir/R4/AuditEvent/$verify: the caller's
// project's trail, or with ?project=ID (super admins) another's. The
// answer is a Parameters resource saying whether the chain holds, how many
// links were checked and, when broken, the first broken link.
//
// A walk reads the whole chain, so the route bounds what asking costs:
// one caller's concurrent requests for one project share one walk, its
// answer is reused for verifyReuse, and at most maxVerifyWalks run at
// once on the server (the others wait their turn).
func AuditVerifyRoute(v AuditVerifier) Route {
	return Route{Pattern: "GET /fhir/R4/AuditEvent/$verify", Handler: &auditVerifyHandler{v: v,
		walks: make(chan struct{}, maxVerifyWalks), recent: map[string]verifyAnswer{}}}
}

const (
	maxVerifyWalks = 2
	verifyReuse    = 10 * time.Second
)

type auditVerifyHandler struct {
	v      AuditVerifier
	walks  chan struct{} // a semaphore of maxVerifyWalks
	flight singleflight.Group
	mu     sync.Mutex
	recent map[string]verifyAnswer // by verifyKey
}

type verifyAnswer struct {
	res ward.AuditVerification
	at  time.Time
}

// verifyKey names one caller's question about one project: answers are
// shared only with the caller that was allowed to get them.
func verifyKey(p *ward.Principal, project string) string {
	return strings.Join([]string{project, p.ProjectID, p.User, p.MembershipID, p.ClientID, strconv.FormatBool(p.System), strconv.FormatBool(p.Admin)}, "|")
}

// verify walks project's chain for p, or reuses a walk (see AuditVerifyRoute).
func (h *auditVerifyHandler) verify(ctx context.Context, p *ward.Principal, project string) (ward.AuditVerification, error) {
	key := verifyKey(p, project)
	h.mu.Lock()
	last, ok := h.recent[key]
	h.mu.Unlock()
	if ok && time.Since(last.at) < verifyReuse {
		return last.res, nil
	}
	v, err, _ := h.flight.Do(key, func() (any, error) {
		select {
		case h.walks <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-h.walks }()
		res, err := h.v.VerifyAudit(ctx, project)
		if err == nil {
			h.remember(key, res)
		}
		return res, err
	})
	if err != nil {
		return ward.AuditVerification{}, err
	}
	return v.(ward.AuditVerification), nil
}

// remember keeps res for key, dropping answers too old to reuse.
func (h *auditVerifyHandler) remember(key string, res ward.AuditVerification) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	for k, a := range h.recent {
		if now.Sub(a.at) >= verifyReuse {
			delete(h.recent, k)
		}
	}
	h.recent[key] = verifyAnswer{res: res, at: now}
}

func (h *auditVerifyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := ward.PrincipalFromContext(r.Context())
	if p == nil {
		Error(w, r, ward.Errorf(ward.EUNAUTHORIZED, "Unauthorized"))
		return
	}
	project := r.URL.Query().Get("project")
	if project == "" {
		project = p.ProjectID
	}
	if _, err := uuid.Parse(project); err != nil {
		Error(w, r, ward.Errorf(ward.EINVALID, "Invalid project: %q", project))
		return
	}
	res, err := h.verify(r.Context(), p, project)
	if err != nil {
		Error(w, r, err)
		return
	}
	body, err := json.Marshal(verificationParameters(res))
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// verificationParameters shapes res as a FHIR Parameters resource.
func verificationParameters(res ward.AuditVerification) map[string]any {
	params := []map[string]any{
		{"name": "project", "valueString": res.ProjectID},
		{"name": "ok", "valueBoolean": res.OK},
		{"name": "checked", "valueInteger": res.Checked},
	}
	if !res.OK {
		params = append(params,
			map[string]any{"name": "brokenSeq", "valueInteger": res.BrokenSeq},
			map[string]any{"name": "problem", "valueString": res.Problem})
		if res.EventID != "" {
			params = append(params, map[string]any{"name": "event", "valueReference": map[string]any{"reference": "AuditEvent/" + res.EventID}})
		}
	}
	return map[string]any{"resourceType": "Parameters", "parameter": params}
}
