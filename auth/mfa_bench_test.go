package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// BenchmarkSignInMFA: a whole password sign-in as MedplumClient makes it
// (POST /auth/login, then POST /oauth2/token), without MFA and with a TOTP
// code (POST /auth/mfa/verify between the two). Each iteration signs one
// user in without and one with MFA, alternating, so both see the same
// (shared, noisy) machine; it reports the mean of each and their ratio. On
// both engines, with bcrypt at the served cost (10) and at its minimum
// (which leaves what the MFA step itself costs). The audit trail is off.
//
//	WARD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//	  go test ./auth/ -run '^$' -bench BenchmarkSignInMFA -benchtime 100x
func BenchmarkSignInMFA(b *testing.B) {
	engines := []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}}
	costs := []struct {
		name string
		cost int
	}{{"bcrypt10", 10}, {"bcryptmin", bcrypt.MinCost}}
	for _, e := range engines {
		for _, c := range costs {
			b.Run(e.name+"/"+c.name, func(b *testing.B) { benchSignIn(b, e.open(b), c.cost) })
		}
	}
}

// benchUser is one signing-in user of the benchmark; secret is "" without MFA.
type benchUser struct {
	id, email, secret string
	total             time.Duration
}

func benchSignIn(b *testing.B, st *store.Store, cost int) {
	ctx := context.Background()
	s := New(st, Config{BaseURL: "https://ward.test/", BcryptCost: cost, Logger: slog.New(slog.DiscardHandler)})
	s.limit = nil // two accounts signing in thousands of times
	h := s.Handler()
	p, err := s.createProject(ctx, "Bench", "", false)
	if err != nil {
		b.Fatal(err)
	}
	newUser := func(email string, mfa bool) *benchUser {
		u, err := s.createUser(ctx, NewUser{FirstName: "B", LastName: "B", Email: email, Password: testPassword})
		if err != nil {
			b.Fatal(err)
		}
		profile, err := s.createProfile(ctx, p.ID, "Practitioner", "B", "B", u.Email)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.createMembership(ctx, &Membership{ResourceType: "ProjectMembership", Project: &Reference{Reference: "Project/" + p.ID},
			User: &Reference{Reference: "User/" + u.ID}, Profile: profile}); err != nil {
			b.Fatal(err)
		}
		bu := &benchUser{id: u.ID, email: email}
		if mfa {
			mu, err := s.readMfaUser(ctx, u.ID)
			if err == nil {
				bu.secret, err = s.ensureSecret(ctx, mu)
			}
			if err == nil {
				_, err = s.updateUser(ctx, u.ID, func(cur *mfaUser) error { cur.raw["mfaEnrolled"] = true; return nil })
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		return bu
	}
	plain, withMfa := newUser("plain@example.com", false), newUser("mfa@example.com", true)
	call := func(path, contentType, body string) map[string]any {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var out map[string]any
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &out) != nil {
			b.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		return out
	}
	jsonBody := func(v any) string {
		var buf bytes.Buffer
		_ = json.NewEncoder(&buf).Encode(v)
		return buf.String()
	}
	const verifier = "verifier-verifier-verifier-verifier-verifier"
	signIn := func(u *benchUser) {
		if u.secret != "" {
			// A person signs in at most once per code; the benchmark
			// signs in many times a step, so it forgets the used one.
			s.mfa.mu.Lock()
			delete(s.mfa.used, u.id)
			s.mfa.mu.Unlock()
		}
		start := time.Now()
		out := call("/auth/login", "application/json", jsonBody(map[string]any{"email": u.email, "password": testPassword,
			"scope": "openid", "codeChallenge": verifier, "codeChallengeMethod": "plain"}))
		if u.secret != "" {
			code, err := totp.GenerateCode(u.secret, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			out = call("/auth/mfa/verify", "application/json", jsonBody(map[string]any{"login": out["login"], "token": code}))
		}
		code, _ := out["code"].(string)
		tok := call("/oauth2/token", "application/x-www-form-urlencoded",
			url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}}.Encode())
		if tok["access_token"] == nil {
			b.Fatalf("no token: %v", tok)
		}
		u.total += time.Since(start)
	}
	n := 0
	for b.Loop() {
		if n%2 == 0 { // alternate which goes first
			signIn(plain)
			signIn(withMfa)
		} else {
			signIn(withMfa)
			signIn(plain)
		}
		n++
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(n) / 1e6 }
	b.ReportMetric(ms(plain.total), "ms/password")
	b.ReportMetric(ms(withMfa.total), "ms/password+totp")
	b.ReportMetric(float64(withMfa.total)/float64(plain.total), "ratio")
}
