package wardhttp

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/wardhealth/ward"
)

// defaultUsageDays is the span of GET /admin/usage without from.
const defaultUsageDays = 31

// usageReport is the body of GET /admin/usage.
type usageReport struct {
	From  string          `json:"from"`
	To    string          `json:"to"`
	Usage []ward.UsageDay `json:"usage"`
}

// handleUsage serves GET /admin/usage?from=&to=&project= to super admins:
// the usage report (ward.UsageDay) per project and UTC day, from..to
// inclusive (default: the last 31 days up to today). It holds counts, not
// clinical data, and is not audited.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) {
	if s.authenticate == nil {
		Error(w, r, ward.Errorf(ward.EUNAUTHORIZED, "Unauthorized"))
		return
	}
	p, err := s.authenticate(r)
	switch {
	case err != nil:
		Error(w, r, err)
		return
	case p == nil:
		Error(w, r, ward.Errorf(ward.EUNAUTHORIZED, "Unauthorized"))
		return
	case !p.System:
		Error(w, r, ward.Errorf(ward.EFORBIDDEN, "Forbidden: the usage report is for super admins"))
		return
	}
	from, to, err := usageSpan(r.URL.Query().Get("from"), r.URL.Query().Get("to"), time.Now())
	if err != nil {
		Error(w, r, err)
		return
	}
	project := r.URL.Query().Get("project")
	days, err := s.usage.Usage(ward.NewContextWithPrincipal(r.Context(), p), from, to, project)
	if err != nil {
		Error(w, r, err)
		return
	}
	if days == nil {
		days = []ward.UsageDay{}
	}
	body, err := json.Marshal(usageReport{From: from, To: to, Usage: days})
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// usageSpan checks and defaults the from and to parameters (YYYY-MM-DD).
func usageSpan(from, to string, now time.Time) (string, string, error) {
	end := now.UTC()
	if to != "" {
		t, err := time.Parse(time.DateOnly, to)
		if err != nil {
			return "", "", invalidf("to must be a date (YYYY-MM-DD)")
		}
		end = t
	}
	start := end.AddDate(0, 0, 1-defaultUsageDays)
	if from != "" {
		t, err := time.Parse(time.DateOnly, from)
		if err != nil {
			return "", "", invalidf("from must be a date (YYYY-MM-DD)")
		}
		start = t
	}
	if start.After(end) {
		return "", "", invalidf("from must not be after to")
	}
	return start.Format(time.DateOnly), end.Format(time.DateOnly), nil
}
