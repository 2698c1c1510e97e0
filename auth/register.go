package auth

import "net/http"

func (s *Service) mountRegister(mux *http.ServeMux) {}
