package auth

import "net/http"

// Owned by the login work: /auth/method, /auth/login, /auth/login/:login,
// /auth/profile, /auth/scope, /oauth2/authorize (+ sign-in page),
// /auth/newuser, /auth/newproject, /auth/changepassword, passwords, rate limits.

type limiter struct{}

func (s *Service) mountLogin(mux *http.ServeMux) {}
