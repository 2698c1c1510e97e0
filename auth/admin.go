package auth

import "net/http"

// Owned by the admin work: /admin/projects/:projectId/... (invite, members,
// client, secrets, settings, sites), /admin/projects/setpassword.

func (s *Service) mountAdmin(mux *http.ServeMux) {}
