package wardhttp

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/google/uuid"

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
func AuditVerifyRoute(v AuditVerifier) Route {
	return Route{Pattern: "GET /fhir/R4/AuditEvent/$verify", Handler: auditVerifyHandler{v}}
}

type auditVerifyHandler struct{ v AuditVerifier }

func (h auditVerifyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	res, err := h.v.VerifyAudit(r.Context(), project)
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
