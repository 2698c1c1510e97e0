package auth

import "net/http"

// Owned by the tokens work: keys, JWTs, Authenticate, /oauth2/token,
// /oauth2/logout, /oauth2/userinfo, /auth/me, /.well-known/*, Seed.

type keyRing struct{}

type principalCache struct{}

func (s *Service) setup() {}

func (s *Service) mountTokens(mux *http.ServeMux) {}
