package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/wardhealth/ward"
)

// handleMe is GET /auth/me (spec 5.7): everything MedplumClient keeps about
// the signed-in caller.
func (s *Service) handleMe(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.callerOf(ctx, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	me, err := s.me(ctx, c)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, me)
}

func (s *Service) me(ctx context.Context, c *Caller) (map[string]any, error) {
	var membership, project map[string]any
	if err := s.readShown(ctx, "ProjectMembership", c.Membership.ID, &membership, c.Project.ID); err != nil {
		return nil, err
	}
	if _, err := s.readJSON(ctx, "Project", c.Project.ID, &project); err != nil {
		return nil, err
	}
	out := map[string]any{
		"project":      meProject(project),
		"membership":   membership,
		"accessPolicy": c.AccessPolicy,
	}
	if ref := c.Membership.Profile; ref != nil {
		typ, id, _ := strings.Cut(ref.Reference, "/")
		var profile map[string]any
		if err := s.readShown(ctx, typ, id, &profile, c.Project.ID); err == nil {
			if typ == "ClientApplication" {
				for _, k := range ward.ClientSecretFields() {
					delete(profile, k)
				}
			}
			out["profile"] = profile
		}
	}
	config, err := s.userConfiguration(ctx, c, membership)
	if err != nil {
		return nil, err
	}
	out["config"] = config
	if c.User != nil {
		user, security, err := s.meUser(ctx, c.User.ID)
		if err != nil {
			return nil, err
		}
		out["user"], out["security"] = user, security
	}
	return out, nil
}

// meProject is the project as /auth/me shows it (spec 5.7): built from the
// stored project, so superAdmin and strictMode are present, and limited to
// what every member may know (regular members cannot read the Project).
func meProject(p map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"resourceType", "id", "name", "description", "features"} {
		if v, ok := p[k]; ok {
			out[k] = v
		}
	}
	out["strictMode"], _ = p["strictMode"].(bool)
	out["superAdmin"], _ = p["superAdmin"].(bool)
	return out
}

// meUser is the user as the output gate shows it (no credentials), and
// the security summary:
// MFA state and the user's open sessions (non-revoked logins).
func (s *Service) meUser(ctx context.Context, userID string) (map[string]any, map[string]any, error) {
	var user map[string]any
	if err := s.readShown(ctx, "User", userID, &user); err != nil {
		return nil, nil, err
	}
	mfa, _ := user["mfaEnrolled"].(bool)
	logins, err := s.searchSystem(ctx, "Login", url.Values{
		"user": {"User/" + userID}, "_count": {"100"}, "_sort": {"-_lastUpdated"},
	})
	if err != nil {
		return nil, nil, err
	}
	sessions := []any{}
	for _, res := range logins {
		var l Login
		if json.Unmarshal(res.Content, &l) != nil || l.Revoked {
			continue
		}
		browser, os := userAgentParts(l.UserAgent)
		sessions = append(sessions, map[string]any{
			"id": l.ID, "lastUpdated": res.LastUpdated.UTC().Format("2006-01-02T15:04:05.000Z"),
			"authMethod": l.AuthMethod, "remoteAddress": l.RemoteAddress, "browser": browser, "os": os,
		})
	}
	return user, map[string]any{"mfaEnrolled": mfa, "sessions": sessions}, nil
}

// userAgentParts names the browser and operating system of a User-Agent
// well enough for a session list.
func userAgentParts(ua string) (browser, os string) {
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Safari/", "Safari"}, {"node", "Node.js"}, {"curl/", "curl"}, {"Go-http-client", "Go"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"Windows", "Windows"}, {"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iOS"},
		{"Mac OS", "Mac OS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			os = o.name
			break
		}
	}
	return browser, os
}

// userConfiguration is the membership's UserConfiguration, or the default
// menus: Favorites for everyone, Admin for admins, Super Admin for super admins.
func (s *Service) userConfiguration(ctx context.Context, c *Caller, membership map[string]any) (map[string]any, error) {
	if ref, ok := membership["userConfiguration"].(map[string]any); ok {
		if id := refID(&Reference{Reference: stringOf(ref["reference"])}, "UserConfiguration"); id != "" {
			var config map[string]any
			if _, err := s.readJSON(ctx, "UserConfiguration", id, &config, c.Project.ID); err == nil {
				return config, nil
			}
		}
	}
	menu := []any{menuOf("Favorites", "Patient", "/Patient", "Practitioner", "/Practitioner",
		"Organization", "/Organization", "ServiceRequest", "/ServiceRequest",
		"DiagnosticReport", "/DiagnosticReport", "Questionnaire", "/Questionnaire")}
	if c.Admin() {
		menu = append(menu, menuOf("Admin", "Project", "/admin/project", "AccessPolicy", "/AccessPolicy",
			"Subscriptions", "/Subscription", "Batch", "/batch", "Config", "/admin/config"))
	}
	if c.SuperAdmin() {
		menu = append(menu, menuOf("Super Admin", "Super Admin", "/admin/super"))
	}
	return map[string]any{"resourceType": "UserConfiguration", "menu": menu}, nil
}

// menuOf builds a menu from name, target pairs.
func menuOf(title string, pairs ...string) map[string]any {
	links := []any{}
	for i := 0; i+1 < len(pairs); i += 2 {
		links = append(links, map[string]any{"name": pairs[i], "target": pairs[i+1]})
	}
	return map[string]any{"title": title, "link": links}
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}
