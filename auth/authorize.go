package auth

import "net/http"

func (s *Service) mountAuthorize(mux *http.ServeMux) {}
