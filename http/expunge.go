package wardhttp

import (
	"context"
	"fmt"
	"net/http"

	"github.com/wardhealth/ward"
)

// expunger is implemented by stores that erase (store/expunge.go).
type expunger interface {
	Expunge(ctx context.Context, typ, id string, everything bool) (int, error)
}

// handleExpunge is POST {type}/{id}/$expunge[?everything=true], Medplum's
// erasure: the resource with every version, and with everything a
// Patient's whole compartment. Project admins erase in their own project;
// the store records the erasure in the trail (and this request with it).
func (s *Server) handleExpunge(w http.ResponseWriter, r *http.Request) {
	e, ok := s.store.(expunger)
	if !ok {
		Error(w, r, ward.Errorf(ward.ENOTFOUND, "Operation $expunge is not supported"))
		return
	}
	everything := false
	switch v := r.URL.Query().Get("everything"); v {
	case "", "false":
	case "true":
		everything = true
	default:
		Error(w, r, ward.Errorf(ward.EINVALID, "Invalid value for everything: %q (true or false)", v))
		return
	}
	n, err := e.Expunge(r.Context(), r.PathValue("type"), r.PathValue("id"), everything)
	if err != nil {
		Error(w, r, err)
		return
	}
	noteResource(r.Context(), &ward.Resource{Type: r.PathValue("type"), ID: r.PathValue("id")})
	writeJSON(w, http.StatusOK, mustJSON(infoOutcome("ok", fmt.Sprintf("Expunged %d resources", n))))
}
