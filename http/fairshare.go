package wardhttp

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fairshare"
)

// Fair shares (package fairshare): once the caller is known, every FHIR
// request spends a token of its project's rate and an expensive one holds
// one of its project's slots for its whole run, so one project's flood
// of searches queues behind its own slots instead of everybody's. Over a
// limit the answer is 429 with Retry-After, recorded in the caller's
// trail like the body budget's.

// expensiveOperations are the operations that search or assemble many
// resources; a route whose pattern names one is expensive.
var expensiveOperations = []string{"$everything", "$export", "$graphql", "$csv", "$summary"}

// expensiveRoutes are the search and history routes.
var expensiveRoutes = map[string]bool{
	"GET /fhir/R4/{type}":               true,
	"POST /fhir/R4/{type}/_search":      true,
	"GET /fhir/R4/_history":             true,
	"GET /fhir/R4/{type}/_history":      true,
	"GET /fhir/R4/{type}/{id}/_history": true,
}

// isExpensive reports whether the route pattern runs expensive work.
// Bundles are not: their writes queue on the writer and their size is
// bounded by the body limit and budget.
func isExpensive(pattern string) bool {
	if expensiveRoutes[pattern] {
		return true
	}
	for _, op := range expensiveOperations {
		if strings.Contains(pattern, op) {
			return true
		}
	}
	return false
}

// admit runs next within p's project's share, or answers 429.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, p *ward.Principal, next http.HandlerFunc) {
	if s.shares == nil {
		next(w, r)
		return
	}
	ticket, err := s.shares.Admit(r.Context(), p.ProjectID, isExpensive(r.Pattern))
	if err != nil {
		var refusal *fairshare.Refusal
		if errors.As(err, &refusal) {
			w.Header().Set("Retry-After", strconv.Itoa(refusal.RetryAfterSeconds()))
		}
		Error(w, r, err)
		return
	}
	defer ticket.Done()
	next(w, r.WithContext(fairshare.NewContext(r.Context(), ticket)))
}
