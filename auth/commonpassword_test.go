package auth

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// commonPasswordCases are passwords of the embedded list, in any case.
var commonPasswordCases = []string{"password", "12345678", "Password1", "QWERTY123", "iloveyou1"}

// Every place a password is set refuses the common ones with Medplum's
// 400 (text "Password found in breach database", the member as
// expression); logging in with one is still only a matter of the hash.
func TestCommonPasswordsRefused(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		pa := f.project(t, "Alpha Clinic", false)
		f.member(t, pa, f.user(t, "jack@example.com", ""), "Practitioner", "Jack", "J")
		login := decodeLogin(t, f.post(t, "/auth/login", map[string]any{
			"email": "jack@example.com", "password": testPassword, "codeChallenge": "xyz", "codeChallengeMethod": "plain",
		}))
		jack := "Bearer " + f.exchange(t, login.Code)

		w := newAdminWorld(t, st)
		alice := w.bearer(t, w.alice.Membership.ID)
		w.mustInvite(t, w.alice, "", inviteRequest{ResourceType: "Patient", FirstName: "P", LastName: "S", Email: "pat@example.com", Scope: "project"})

		for _, pw := range commonPasswordCases {
			quoted := `"` + pw + `"`
			cases := []struct {
				name, path, auth, body string
				viaAdmin               bool
				expression             string
			}{
				{name: "newuser", path: "/auth/newuser", body: `{"firstName":"Ivy","lastName":"I","email":"ivy@example.com","password":` + quoted + `,"codeChallenge":"xyz","codeChallengeMethod":"plain"}`, expression: "password"},
				{name: "changepassword", path: "/auth/changepassword", auth: jack, body: `{"oldPassword":"` + testPassword + `","newPassword":` + quoted + `}`, expression: "newPassword"},
				{name: "admin setpassword", path: "/admin/projects/setpassword", auth: alice, viaAdmin: true, body: `{"email":"pat@example.com","password":` + quoted + `}`, expression: "password"},
				{name: "invite with password", path: "/admin/projects/:projectId/invite", auth: alice, viaAdmin: true, body: `{"resourceType":"Practitioner","firstName":"Carl","lastName":"C","email":"carl@example.com","password":` + quoted + `,"sendEmail":false}`, expression: "password"},
			}
			for _, c := range cases {
				var text string
				var expr []string
				var status int
				if c.viaAdmin {
					code, out := w.call("POST", c.path, c.auth, c.body)
					status, text = code, issueText(out)
					if issues, _ := out["issue"].([]any); len(issues) > 0 {
						for _, e := range issues[0].(map[string]any)["expression"].([]any) {
							expr = append(expr, e.(string))
						}
					}
				} else {
					var hdr []string
					if c.auth != "" {
						hdr = []string{"Authorization", c.auth}
					}
					rec := f.do(t, "POST", c.path, json.RawMessage(c.body), hdr...)
					status = rec.Code
					text, expr = outcomeText(t, rec)
				}
				if status != 400 || text != breachedText || len(expr) != 1 || expr[0] != c.expression {
					t.Errorf("%s with %q: %d %q %q, want 400 %q naming %s", c.name, pw, status, text, expr, breachedText, c.expression)
				}
			}
		}
		// Nothing was set: Jack's password, Pat's, and no Ivy or Carl.
		decodeLogin(t, f.post(t, "/auth/login", map[string]any{"email": "jack@example.com", "password": testPassword}))
		for _, email := range []string{"ivy@example.com", "carl@example.com"} {
			if u, _ := f.s.userByEmail(context.Background(), email, ""); u != nil {
				t.Errorf("%s was created", email)
			}
		}
		// Login only checks the hash: a common password is "invalid", not "breached".
		wantError(t, f.post(t, "/auth/login", map[string]any{"email": "jack@example.com", "password": "password"}), 400, "Email or password is invalid")
	})
}

// A common configured admin password stops the seed with a clear error
// and seeds nothing; an uncommon one seeds.
func TestSeedRefusesCommonAdminPassword(t *testing.T) {
	for _, pw := range []string{"password", "12345678", "Trustno1", "short"} {
		st := storetest.OpenSQLite(t)
		s := New(st, Config{BaseURL: tokBase, BcryptCost: bcrypt.MinCost, AdminPassword: pw, Logger: slog.New(slog.DiscardHandler)})
		err := s.Seed(context.Background())
		if err == nil || !strings.Contains(err.Error(), "WARD_ADMIN_PASSWORD") {
			t.Errorf("seed with %q: %v, want an error naming WARD_ADMIN_PASSWORD", pw, err)
		}
		if users, _ := s.searchSystem(context.Background(), "User", url.Values{}); len(users) != 0 {
			t.Errorf("seed with %q created %d users", pw, len(users))
		}
	}
}

// The embedded list is the one its header describes.
func TestCommonPasswordList(t *testing.T) {
	set := commonPasswords()
	if len(set) != 10_000 {
		t.Errorf("%d common passwords, want 10,000", len(set))
	}
	for pw := range set {
		if len(pw) < 8 || len(pw) > 72 || strings.ToLower(pw) != pw {
			t.Errorf("list entry %q: not a lower-case 8..72 character password", pw)
		}
	}
}
