package auth

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestFeedConfigRights: a project's admins and super admins read and set
// its feed; another project's admin gets 404 and changes nothing, a
// member 403, no credentials 401; only super admins read and set the
// server-wide feed, which falls back to the flags' when reset.
func TestFeedConfigRights(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		w.s.cfg.Feed = FeedSettings{Sinks: []string{"kafka", "nats"}, Default: &ward.FeedConfig{Enabled: true, Sinks: []string{"kafka"}}}
		projB, ownerB := registerOwner(t, w.s, "Bob Project", "bob-owner@example.com", false)
		member := w.mustInvite(t, w.alice, "", bob("Practitioner"))
		alice, super := w.bearer(t, w.alice.Membership.ID), w.bearer(t, w.super.Membership.ID)
		adminB, plain := w.bearer(t, ownerB.Membership.ID), w.bearer(t, member.Membership.ID)
		feedA, feedB := "/admin/projects/"+w.project.ID+"/feed", "/admin/projects/"+projB.ID+"/feed"
		own := `{"enabled":true,"sinks":["kafka"],"types":["Observation"],"audit":true}`

		for _, tc := range []struct {
			name, method, path, auth, body string
			want                           int
		}{
			{"owner reads her project's feed (off)", "GET", feedA, alice, "", http.StatusOK},
			{"owner sets it", "PUT", feedA, alice, own, http.StatusOK},
			{"owner sets it by POST", "POST", feedA, alice, own, http.StatusOK},
			{"owner sends a GET's answer back", "PUT", feedA, alice, `{"project":"x","connected":["kafka"],"default":false,` + own[1:], http.StatusOK},
			{"the literal :projectId is her own", "GET", "/admin/projects/:projectId/feed", alice, "", http.StatusOK},
			{"another project's admin reads it", "GET", feedA, adminB, "", http.StatusNotFound},
			{"another project's admin sets it", "PUT", feedA, adminB, `{"enabled":false}`, http.StatusNotFound},
			{"owner sets another project's", "PUT", feedB, alice, own, http.StatusNotFound},
			{"a member reads it", "GET", feedA, plain, "", http.StatusForbidden},
			{"a member sets it", "PUT", feedA, plain, `{"enabled":false}`, http.StatusForbidden},
			{"no credentials", "GET", feedA, "", "", http.StatusUnauthorized},
			{"super admin reads it", "GET", feedA, super, "", http.StatusOK},
			{"a project admin reads the server-wide feed", "GET", "/admin/feed", alice, "", http.StatusForbidden},
			{"a project admin sets the server-wide feed", "PUT", "/admin/feed", alice, `{"enabled":false}`, http.StatusForbidden},
			{"a project admin resets the server-wide feed", "DELETE", "/admin/feed", alice, "", http.StatusForbidden},
			{"a member sets the server-wide feed", "PUT", "/admin/feed", plain, `{"enabled":false}`, http.StatusForbidden},
		} {
			if status, out := w.call(tc.method, tc.path, tc.auth, tc.body); status != tc.want {
				t.Errorf("%s: %d %v, want %d", tc.name, status, out, tc.want)
			}
		}

		ctx := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
		a, _ := st.FeedConfig(ctx, w.project.ID)
		if a == nil || !a.Enabled || !slices.Equal(a.Sinks, []string{"kafka"}) || !slices.Equal(a.Types, []string{"Observation"}) || !a.Audit {
			t.Errorf("A's stored feed %+v, want the owner's", a)
		}
		if b, _ := st.FeedConfig(ctx, projB.ID); b != nil {
			t.Errorf("B's feed %+v was set by A's owner", b)
		}
		if server, _ := st.FeedConfig(ctx, ward.SystemProjectID); server != nil {
			t.Errorf("the server-wide feed %+v was set by a project admin", server)
		}

		_, out := w.call("GET", "/admin/feed", super, "")
		if out["default"] != true || out["enabled"] != true || !sameList(out["sinks"], "kafka") || !sameList(out["connected"], "kafka", "nats") {
			t.Errorf("server-wide feed before any is stored: %v, want the flags'", out)
		}
		if status, out := w.call("PUT", "/admin/feed", super, `{"enabled":true,"sinks":["nats"],"audit":true}`); status != http.StatusOK || out["default"] == true || !sameList(out["sinks"], "nats") {
			t.Errorf("super admin sets the server-wide feed: %d %v", status, out)
		}
		if server, _ := st.FeedConfig(ctx, ward.SystemProjectID); server == nil || !server.Audit || !slices.Equal(server.Sinks, []string{"nats"}) {
			t.Errorf("stored server-wide feed %+v", server)
		}
		if status, out := w.call("DELETE", "/admin/feed", super, ""); status != http.StatusOK || out["default"] != true || !sameList(out["sinks"], "kafka") {
			t.Errorf("super admin resets the server-wide feed: %d %v", status, out)
		}
	})
}

// TestFeedConfigBadBodies: what is not a feed configuration this server
// can serve is a 400 OperationOutcome, and nothing is stored.
func TestFeedConfigBadBodies(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		w.s.cfg.Feed = FeedSettings{Sinks: []string{"kafka"}}
		alice := w.bearer(t, w.alice.Membership.ID)
		path := "/admin/projects/" + w.project.ID + "/feed"
		for _, tc := range []struct{ name, body, text string }{
			{"not JSON", `{"enabled":`, "Invalid feed configuration"},
			{"unknown field", `{"enabled":true,"sinks":["kafka"],"topic":"x"}`, "Invalid feed configuration"},
			{"wrong type", `{"enabled":"yes"}`, "Invalid feed configuration"},
			{"a sink not connected", `{"enabled":true,"sinks":["nats"]}`, "Sink nats is not connected on this server (connected: kafka)"},
			{"on without a sink", `{"enabled":true}`, "An enabled feed needs a sink"},
			{"an unknown type", `{"enabled":true,"sinks":["kafka"],"types":["Patients"]}`, "Unknown resource type Patients"},
			{"the audit trail as a type", `{"enabled":true,"sinks":["kafka"],"types":["AuditEvent"]}`, "AuditEvent is not on the change feed; set audit: true for the audit trail"},
		} {
			status, out := w.call("PUT", path, alice, tc.body)
			if status != http.StatusBadRequest || out["resourceType"] != "OperationOutcome" || !hasPrefix(issueText(out), tc.text) {
				t.Errorf("%s: %d %v, want 400 %q", tc.name, status, out, tc.text)
			}
		}
		ctx := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
		if c, _ := st.FeedConfig(ctx, w.project.ID); c != nil {
			t.Errorf("a bad body stored %+v", c)
		}
	})
}

func sameList(v any, want ...string) bool {
	list, _ := v.([]any)
	if len(list) != len(want) {
		return false
	}
	for i, x := range list {
		if x != want[i] {
			return false
		}
	}
	return true
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }
