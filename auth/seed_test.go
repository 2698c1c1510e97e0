package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// seedLogin signs in as the seeded admin through /auth/login and the code
// exchange, returning the token reply (status and body on failure).
func seedLogin(t *testing.T, s *Service, password string) (int, map[string]any) {
	t.Helper()
	h := s.Handler()
	body, _ := json.Marshal(map[string]any{"email": seedAdminEmail, "password": password, "scope": "openid offline",
		"codeChallenge": "xyz", "codeChallengeMethod": "plain"})
	r := httptest.NewRequest("POST", "/auth/login", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/fhir+json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var login map[string]any
	json.Unmarshal(w.Body.Bytes(), &login)
	if w.Code != 200 {
		return w.Code, login
	}
	code, _ := login["code"].(string)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {"xyz"}}
	r = httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var reply map[string]any
	json.Unmarshal(w.Body.Bytes(), &reply)
	return w.Code, reply
}

// Row 87: on an empty database the server creates admin@example.com, who
// can sign in as super admin of the "Super Admin" project. Ward logs a
// random password once instead of Medplum's known default.
func TestSeed(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		var logs bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&logs, nil))
		s := New(st, Config{BaseURL: tokBase, BcryptCost: bcrypt.MinCost, Logger: logger})
		if err := s.Seed(ctx); err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`"level":"WARN".*"email":"admin@example.com","password":"([^"]+)"`).FindStringSubmatch(logs.String())
		if m == nil || len(m[1]) < 20 {
			t.Fatalf("no random password of 20+ characters logged at warn: %s", logs.String())
		}
		password := m[1]
		if password == "medplum_admin" {
			t.Fatal("the known default password")
		}

		status, reply := seedLogin(t, s, password)
		if status != 200 {
			t.Fatalf("admin login: %d %v", status, reply)
		}
		if p, _ := reply["project"].(map[string]any); p["display"] != "Super Admin" {
			t.Errorf("project = %v", reply["project"])
		}
		if p, _ := reply["profile"].(map[string]any); p["display"] != "Medplum Admin" || !strings.HasPrefix(p["reference"].(string), "Practitioner/") {
			t.Errorf("profile = %v", reply["profile"])
		}
		if _, ok := reply["refresh_token"]; ok {
			t.Error("a super admin got a refresh token")
		}
		r := httptest.NewRequest("GET", "/auth/me", nil)
		r.Header.Set("Authorization", "Bearer "+reply["access_token"].(string))
		c, err := s.callerOf(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if !c.SuperAdmin() || !c.Principal.System || !c.Admin() || c.Project.Name != "Super Admin" || !c.Project.StrictMode {
			t.Errorf("caller: superAdmin %v system %v admin %v project %+v", c.SuperAdmin(), c.Principal.System, c.Admin(), c.Project)
		}
		if c.User.FirstName != "Medplum" || c.User.LastName != "Admin" || c.User.Project != nil {
			t.Errorf("user = %+v, want server-scoped Medplum Admin", c.User)
		}
		if c.Project.Owner == nil || c.Project.Owner.Reference != "User/"+c.User.ID {
			t.Errorf("owner = %+v", c.Project.Owner)
		}
		var r4 Project
		if _, err := s.readJSON(ctx, "Project", ward.R4ProjectID, &r4); err != nil || r4.Name != "FHIR R4" {
			t.Errorf("FHIR R4 project: %+v %v", r4, err)
		}
		keys, _ := s.searchSystem(ctx, "JsonWebKey", url.Values{"active": {"true"}})
		if len(keys) != 1 {
			t.Errorf("%d active signing keys, want 1", len(keys))
		}

		// A restart seeds nothing and logs no password.
		logs.Reset()
		again := New(st, Config{BaseURL: tokBase, BcryptCost: bcrypt.MinCost, Logger: logger})
		if err := again.Seed(ctx); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logs.String(), "password") {
			t.Errorf("second start logged %s", logs.String())
		}
		users, _ := s.searchSystem(ctx, "User", url.Values{})
		projects, _ := s.searchSystem(ctx, "Project", url.Values{"name:exact": {"Super Admin"}})
		keys, _ = s.searchSystem(ctx, "JsonWebKey", url.Values{})
		if len(users) != 1 || len(projects) != 1 || len(keys) != 1 {
			t.Errorf("after restart: %d users, %d Super Admin projects, %d keys", len(users), len(projects), len(keys))
		}
		if status, _ := seedLogin(t, again, password); status != 200 {
			t.Errorf("login after restart: %d", status)
		}
	})
}

func TestSeedWithConfiguredPassword(t *testing.T) {
	st := storetest.OpenSQLite(t)
	var logs bytes.Buffer
	s := New(st, Config{BaseURL: tokBase, BcryptCost: bcrypt.MinCost, AdminPassword: "configured-secret",
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err := s.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "configured-secret") {
		t.Error("configured password written to the log")
	}
	if status, reply := seedLogin(t, s, "configured-secret"); status != 200 {
		t.Errorf("login with the configured password: %d %v", status, reply)
	}
	if status, _ := seedLogin(t, s, "medplum_admin"); status == 200 {
		t.Error("Medplum's default password works")
	}
}
