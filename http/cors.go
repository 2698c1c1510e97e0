package wardhttp

import "net/http"

// cors answers CORS preflights and marks responses for the allowed
// origins (Options.AllowedOrigins).
func (s *Server) cors(next http.Handler) http.Handler {
	return next // TODO(cors): filled in by the CORS change
}
