package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/mock"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// testClock is a settable clock for the TOTP steps.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// mfaWorld is project A with its admin alice (server-scoped) and member
// bob, an audit log and a clock the test moves.
type mfaWorld struct {
	*loginFixture
	audit    *mock.AuditRecorder
	clock    *testClock
	a        *Project
	alice    *User
	aliceM   *Membership
	bob      *User
	verifier string
}

func newMfaWorld(t *testing.T, st *store.Store) *mfaWorld {
	t.Helper()
	w := &mfaWorld{audit: &mock.AuditRecorder{}, clock: &testClock{t: time.Now()},
		verifier: "verifier-verifier-verifier-verifier-verifier"}
	w.loginFixture = newLoginFixture(t, st, func(c *Config) {
		c.Audit = w.audit
		c.Now = w.clock.now
	})
	w.a = w.project(t, "Project A", false)
	w.alice = w.user(t, "alice@example.com", "")
	w.aliceM = w.member(t, w.a, w.alice, "Practitioner", "Alice", "A", func(m *Membership) { m.Admin = true })
	w.bob = w.user(t, "bob@example.com", "")
	w.member(t, w.a, w.bob, "Practitioner", "Bob", "B")
	return w
}

// login posts /auth/login for email and returns the answer as a map.
func (w *mfaWorld) login(t *testing.T, email string) map[string]any {
	t.Helper()
	resp := w.post(t, "/auth/login", map[string]any{"email": email, "password": testPassword,
		"scope": "openid", "codeChallenge": w.verifier, "codeChallengeMethod": "plain"})
	if resp.Code != http.StatusOK {
		t.Fatalf("login %s: %d %s", email, resp.Code, resp.Body)
	}
	return decodeMap(t, resp)
}

// exchange trades a code for tokens; it returns the status and answer.
func (w *mfaWorld) exchange(t *testing.T, code string) (int, map[string]any) {
	t.Helper()
	r := w.form("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {w.verifier}})
	return r.Code, decodeMap(t, r)
}

func (w *mfaWorld) form(path string, v url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, r)
	return rec
}

// bearer signs email in (no MFA yet) and returns its access token.
func (w *mfaWorld) bearer(t *testing.T, email string) string {
	t.Helper()
	code, _ := w.login(t, email)["code"].(string)
	status, tok := w.exchange(t, code)
	if status != 200 {
		t.Fatalf("token: %d %v", status, tok)
	}
	return "Bearer " + tok["access_token"].(string)
}

// code is the TOTP code of secret at the clock's time plus offset steps.
func (w *mfaWorld) code(t *testing.T, secret string, offset int) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, w.clock.now().Add(time.Duration(offset)*mfaPeriod),
		totp.ValidateOpts{Period: 30, Digits: mfaCodeOpts.Digits, Algorithm: mfaCodeOpts.Algorithm})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode is a well-formed code that is not the current one.
func (w *mfaWorld) wrongCode(t *testing.T, secret string) string {
	t.Helper()
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if _, ok := matchCode(secret, c, w.clock.now()); !ok {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// status calls /auth/mfa/status and returns the answer and the secret in
// its enrollUri ("" when enrolled).
func (w *mfaWorld) status(t *testing.T, bearer string) (map[string]any, string) {
	t.Helper()
	resp := w.do(t, http.MethodGet, "/auth/mfa/status", nil, "Authorization", bearer)
	if resp.Code != http.StatusOK {
		t.Fatalf("status: %d %s", resp.Code, resp.Body)
	}
	out := decodeMap(t, resp)
	uri, _ := out["enrollUri"].(string)
	if uri == "" {
		return out, ""
	}
	return out, secretOf(t, uri)
}

func secretOf(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("enrollUri %q is not an otpauth://totp/ URI", uri)
	}
	q := u.Query()
	if q.Get("secret") == "" || q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" || q.Get("issuer") == "" {
		t.Fatalf("enrollUri %q lacks a parameter", uri)
	}
	return q.Get("secret")
}

// enroll enrols the holder of bearer and returns its secret.
func (w *mfaWorld) enroll(t *testing.T, bearer string) string {
	t.Helper()
	_, secret := w.status(t, bearer)
	resp := w.post(t, "/auth/mfa/enroll", map[string]any{"token": w.code(t, secret, 0)}, "Authorization", bearer)
	if resp.Code != http.StatusOK {
		t.Fatalf("enroll: %d %s", resp.Code, resp.Body)
	}
	w.clock.advance(mfaPeriod) // the next code is a new one
	return secret
}

// TestMfaEnrollAndSignIn walks Medplum's MFA life: status shows a QR code,
// enroll with a code, then every sign-in asks for one (mfaRequired, no
// code), a wrong or replayed code is 400, the right one gives the login's
// code and tokens.
func TestMfaEnrollAndSignIn(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newMfaWorld(t, st)
		bearer := w.bearer(t, "alice@example.com")

		first, secret := w.status(t, bearer)
		if first["enrolled"] != false {
			t.Fatalf("status %v, want enrolled false", first)
		}
		qr, _ := first["enrollQrCode"].(string)
		data, ok := strings.CutPrefix(qr, "data:image/png;base64,")
		raw, err := base64.StdEncoding.DecodeString(data)
		if !ok || err != nil {
			t.Fatalf("enrollQrCode is not a PNG data URL: %.60s", qr)
		}
		if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
			t.Fatalf("enrollQrCode: %v", err)
		}
		if _, again := w.status(t, bearer); again != secret {
			t.Fatalf("a second status changed the secret")
		}
		// The secret leaves only in the enrollment URI: never in /auth/me.
		if me := w.do(t, http.MethodGet, "/auth/me", nil, "Authorization", bearer); strings.Contains(me.Body.String(), secret) {
			t.Fatalf("/auth/me shows the MFA secret: %s", me.Body)
		}

		enroll := func(token any) *httptest.ResponseRecorder {
			return w.post(t, "/auth/mfa/enroll", map[string]any{"token": token}, "Authorization", bearer)
		}
		wantError(t, enroll(""), 400, "Missing token")
		wantError(t, enroll(w.wrongCode(t, secret)), 400, "Invalid token")
		if got := w.login(t, "alice@example.com"); got["code"] == nil {
			t.Fatalf("a failed enrolment turned MFA on: %v", got)
		}
		if resp := enroll(w.code(t, secret, 0)); resp.Code != 200 || !strings.Contains(resp.Body.String(), "All OK") {
			t.Fatalf("enroll: %d %s", resp.Code, resp.Body)
		}
		w.clock.advance(mfaPeriod)
		wantError(t, enroll(w.code(t, secret, 0)), 400, "Already enrolled")
		if st, _ := w.status(t, bearer); len(st) != 1 || st["enrolled"] != true {
			t.Fatalf("status after enrolment %v, want exactly {enrolled: true}", st)
		}

		// Sign-in now stops at the MFA step: no code, no cookie.
		resp := w.post(t, "/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword,
			"scope": "openid", "codeChallenge": w.verifier, "codeChallengeMethod": "plain"})
		pending := decodeMap(t, resp)
		if pending["mfaRequired"] != true || pending["code"] != nil || len(pending) != 2 || resp.Header().Get("Set-Cookie") != "" {
			t.Fatalf("login of an enrolled user: %v", pending)
		}
		loginID := pending["login"].(string)
		verify := func(login, token string) *httptest.ResponseRecorder {
			return w.post(t, "/auth/mfa/verify", map[string]any{"login": login, "token": token})
		}
		for _, c := range []struct {
			name, login, token string
			status             int
			text               string
		}{
			{"missing login", "", "123456", 400, "Missing login"},
			{"missing token", loginID, "", 400, "Missing token"},
			{"unknown login", ward.NewID(), "123456", 404, "Login not found"},
			{"wrong code", loginID, w.wrongCode(t, secret), 400, "Invalid MFA token"},
			{"the enrolment's code again", loginID, w.code(t, secret, -1), 400, "Invalid MFA token"},
			{"not a number", loginID, "abcdef", 400, "Invalid MFA token"},
		} {
			t.Run(c.name, func(t *testing.T) { wantError(t, verify(c.login, c.token), c.status, c.text) })
		}
		right := w.code(t, secret, 0)
		out := decodeMap(t, verify(loginID, right))
		code, _ := out["code"].(string)
		if !codePattern.MatchString(code) || out["login"] != loginID {
			t.Fatalf("verify: %v", out)
		}
		wantError(t, verify(loginID, w.code(t, secret, 1)), 400, "Login already verified")
		if status, tok := w.exchange(t, code); status != 200 || tok["access_token"] == nil {
			t.Fatalf("token after MFA: %d %v", status, tok)
		}
		// A code is good once, even for another sign-in.
		again := w.login(t, "alice@example.com")["login"].(string)
		wantError(t, verify(again, right), 400, "Invalid MFA token")
		w.clock.advance(5 * time.Minute) // five wrong codes so far: wait out the lockout
		if out := decodeMap(t, verify(again, w.code(t, secret, 0))); out["code"] == nil {
			t.Fatalf("verify in the next step: %v", out)
		}
	})
}

// TestMfaLockout: five wrong codes, then even the right one is refused
// (429) until the user's bucket refills; another user is not locked.
func TestMfaLockout(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newMfaWorld(t, st)
		secret := w.enroll(t, w.bearer(t, "alice@example.com"))
		bobSecret := w.enroll(t, w.bearer(t, "bob@example.com"))
		loginID := w.login(t, "alice@example.com")["login"].(string)
		verify := func(token string) *httptest.ResponseRecorder {
			return w.post(t, "/auth/mfa/verify", map[string]any{"login": loginID, "token": token})
		}
		for i := range 5 {
			if resp := verify(w.wrongCode(t, secret)); resp.Code != 400 {
				t.Fatalf("wrong code %d: %d %s", i+1, resp.Code, resp.Body)
			}
		}
		wantError(t, verify(w.code(t, secret, 0)), 429, "Too many MFA attempts, try again later")
		bobLogin := w.login(t, "bob@example.com")["login"].(string)
		if out := decodeMap(t, w.post(t, "/auth/mfa/verify", map[string]any{"login": bobLogin, "token": w.code(t, bobSecret, 0)})); out["code"] == nil {
			t.Fatalf("another user is locked out too: %v", out)
		}
		w.clock.advance(5 * time.Minute)
		if out := decodeMap(t, verify(w.code(t, secret, 0))); out["code"] == nil {
			t.Fatalf("after the lockout: %v", out)
		}
		fails := 0
		for _, f := range w.failed() {
			if f.Reason == reasonWrongCode || f.Reason == reasonMfaLocked {
				fails++
			}
		}
		if fails != 6 {
			t.Errorf("%d failed MFA attempts reported, want 6", fails)
		}
	})
}

// TestMfaAddressLimit: one address trying codes of many users is throttled
// after 30 wrong ones.
func TestMfaAddressLimit(t *testing.T) {
	g := newMfaGuard()
	now := time.Now()
	for i := range 30 {
		if g.limit.exhausted(context.Background(), now, ward.NewID(), "192.0.2.1") {
			t.Fatalf("address exhausted after %d", i)
		}
		if err := g.limit.allow(context.Background(), now, ward.NewID(), "192.0.2.1"); err != nil {
			t.Fatalf("wrong code %d refused: %v", i+1, err)
		}
	}
	if !g.limit.exhausted(context.Background(), now, ward.NewID(), "192.0.2.1") {
		t.Fatal("address not exhausted after 30 wrong codes")
	}
	if g.limit.exhausted(context.Background(), now, ward.NewID(), "192.0.2.2") {
		t.Fatal("another address is exhausted")
	}
}

// TestMfaDisable: a current code turns MFA off, the next enrolment gets a
// new secret, and sign-in gives a code straight away.
func TestMfaDisable(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newMfaWorld(t, st)
		bearer := w.bearer(t, "alice@example.com")
		disable := func(token string) *httptest.ResponseRecorder {
			return w.post(t, "/auth/mfa/disable", map[string]any{"token": token}, "Authorization", bearer)
		}
		wantError(t, disable("123456"), 400, "Secret not found")
		_, _ = w.status(t, bearer)
		wantError(t, disable("123456"), 400, "User not enrolled in MFA")
		secret := w.enroll(t, bearer)
		wantError(t, disable(""), 400, "Missing token")
		wantError(t, disable(w.wrongCode(t, secret)), 400, "Invalid token")
		if resp := disable(w.code(t, secret, 0)); resp.Code != 200 {
			t.Fatalf("disable: %d %s", resp.Code, resp.Body)
		}
		st1, newSecret := w.status(t, bearer)
		if st1["enrolled"] != false || newSecret == "" || newSecret == secret {
			t.Fatalf("status after disable: %v (same secret: %v)", st1, newSecret == secret)
		}
		if got := w.login(t, "alice@example.com"); got["code"] == nil || got["mfaRequired"] != nil {
			t.Fatalf("login after disable: %v", got)
		}
		if resp := w.do(t, http.MethodGet, "/auth/mfa/status", nil); resp.Code != 401 {
			t.Fatalf("status without a token: %d", resp.Code)
		}
	})
}

// TestMfaRequired: a project's requireMfa setting, or a user invited with
// mfaRequired, makes sign-in enrol first (mfaEnrollRequired, a QR code, no
// code); /auth/mfa/login-enroll with a right code ends in tokens, and the
// next sign-in asks for a code.
func TestMfaRequired(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newMfaWorld(t, st)
		admin := w.bearer(t, "alice@example.com")
		if resp := w.post(t, "/admin/projects/"+w.a.ID+"/settings", []any{map[string]any{"name": "requireMfa", "valueBoolean": true}},
			"Authorization", admin); resp.Code != 200 {
			t.Fatalf("settings: %d %s", resp.Code, resp.Body)
		}
		other := w.project(t, "Project B", false)
		carol, err := w.s.createUser(context.Background(), NewUser{FirstName: "Carol", LastName: "C", Email: "carol@example.com",
			Password: testPassword, MfaRequired: true})
		if err != nil {
			t.Fatal(err)
		}
		w.member(t, other, carol, "Practitioner", "Carol", "C")
		dave := w.user(t, "dave@example.com", "")
		w.member(t, other, dave, "Practitioner", "Dave", "D")

		for _, c := range []struct{ name, email string }{
			{"project requires MFA", "bob@example.com"},
			{"user invited with mfaRequired", "carol@example.com"},
		} {
			t.Run(c.name, func(t *testing.T) {
				pending := w.login(t, c.email)
				uri, _ := pending["enrollUri"].(string)
				if pending["mfaEnrollRequired"] != true || pending["code"] != nil || !strings.HasPrefix(stringOf(pending["enrollQrCode"]), "data:image/png;base64,") {
					t.Fatalf("login: %v", pending)
				}
				secret := secretOf(t, uri)
				loginID := pending["login"].(string)
				// No way around the step: profile, scope, GET login.
				if out := decodeMap(t, w.do(t, http.MethodGet, "/auth/login/"+loginID, nil)); out["code"] != nil {
					t.Fatalf("GET /auth/login gave a code: %v", out)
				}
				enroll := func(token string) *httptest.ResponseRecorder {
					return w.post(t, "/auth/mfa/login-enroll", map[string]any{"login": loginID, "token": token})
				}
				wantError(t, enroll(w.wrongCode(t, secret)), 400, "Invalid MFA token")
				out := decodeMap(t, enroll(w.code(t, secret, 0)))
				if out["code"] == nil {
					t.Fatalf("login-enroll: %v", out)
				}
				if status, tok := w.exchange(t, out["code"].(string)); status != 200 {
					t.Fatalf("token: %d %v", status, tok)
				}
				if next := w.login(t, c.email); next["mfaRequired"] != true || next["code"] != nil {
					t.Fatalf("next login: %v", next)
				}
			})
		}
		// A member of a project without the setting signs in as before.
		if got := w.login(t, "dave@example.com"); got["code"] == nil {
			t.Fatalf("project without requireMfa: %v", got)
		}
	})
}

// TestMfaNoBypass: Medplum lets a user with several memberships skip MFA
// through /auth/profile (spec part 2, §5); Ward gives no code before the
// code step on any path, and refuses to exchange a code that leaked.
func TestMfaNoBypass(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newMfaWorld(t, st)
		b := w.project(t, "Project B", false)
		bM := w.member(t, b, w.alice, "Practitioner", "Alice", "B")
		pending := w.login(t, "alice@example.com") // two memberships: the chooser
		if pending["memberships"] == nil {
			t.Fatalf("want the chooser: %v", pending)
		}
		// Enrol through the chooser's first membership.
		out := decodeMap(t, w.post(t, "/auth/profile", map[string]any{"login": pending["login"], "profile": bM.ID}))
		_, tok := w.exchange(t, out["code"].(string))
		secret := w.enroll(t, "Bearer "+tok["access_token"].(string))

		loginID := w.login(t, "alice@example.com")["login"].(string)
		for _, c := range []struct {
			name string
			resp func() *httptest.ResponseRecorder
		}{
			{"profile", func() *httptest.ResponseRecorder {
				return w.post(t, "/auth/profile", map[string]any{"login": loginID, "profile": w.aliceM.ID})
			}},
			{"scope", func() *httptest.ResponseRecorder {
				return w.post(t, "/auth/scope", map[string]any{"login": loginID, "scope": "openid"})
			}},
			{"GET login", func() *httptest.ResponseRecorder { return w.do(t, http.MethodGet, "/auth/login/"+loginID, nil) }},
		} {
			t.Run(c.name, func(t *testing.T) {
				got := decodeMap(t, c.resp())
				if got["code"] != nil || got["mfaRequired"] != true {
					t.Fatalf("%s before the code step: %v", c.name, got)
				}
			})
		}
		var leaked Login
		if _, err := w.s.readJSON(context.Background(), "Login", loginID, &leaked); err != nil {
			t.Fatal(err)
		}
		if status, tok := w.exchange(t, leaked.Code); status != 400 || tok["error_description"] != "MFA required" {
			t.Fatalf("exchange of a leaked code: %d %v", status, tok)
		}
		out = decodeMap(t, w.post(t, "/auth/mfa/verify", map[string]any{"login": loginID, "token": w.code(t, secret, 0)}))
		if status, _ := w.exchange(t, out["code"].(string)); status != 200 {
			t.Fatalf("exchange after the code step: %d", status)
		}
	})
}

// TestMfaAudit: enrolment, a wrong code, verification and disabling are
// each one record in the user's project trail, without the secret or code.
func TestMfaAudit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newMfaWorld(t, st)
		bearer := w.bearer(t, "alice@example.com")
		_, secret := w.status(t, bearer)
		alice := "User/" + w.alice.ID
		aliceM := "ProjectMembership/" + w.aliceM.ID
		w.audit.Take()
		var loginID string
		var wrong string
		cases := []struct {
			name string
			do   func(t *testing.T) int
			want wantRecord
		}{
			{"enroll with a wrong code", func(t *testing.T) int {
				wrong = w.wrongCode(t, secret)
				return w.post(t, "/auth/mfa/enroll", map[string]any{"token": wrong}, "Authorization", bearer).Code
			}, wantRecord{w.a.ID, "login", "mfa-enroll", "E", "4", 400, alice, aliceM, "", "User", reasonWrongCode}},
			{"enroll", func(t *testing.T) int {
				return w.post(t, "/auth/mfa/enroll", map[string]any{"token": w.code(t, secret, 0)}, "Authorization", bearer).Code
			}, wantRecord{w.a.ID, "login", "mfa-enroll", "U", "0", 200, alice, aliceM, "", "User", ""}},
			{"verify with a wrong code", func(t *testing.T) int {
				w.clock.advance(mfaPeriod)
				loginID = w.login(t, "alice@example.com")["login"].(string)
				w.audit.Take()
				return w.post(t, "/auth/mfa/verify", map[string]any{"login": loginID, "token": wrong}).Code
			}, wantRecord{ward.SystemProjectID, "login", "mfa-verify", "E", "4", 400, alice, "", "", "", reasonWrongCode}},
			{"verify", func(t *testing.T) int {
				return w.post(t, "/auth/mfa/verify", map[string]any{"login": loginID, "token": w.code(t, secret, 0)}).Code
			}, wantRecord{w.a.ID, "login", "mfa-verify", "E", "0", 200, alice, aliceM, "", "", ""}},
			{"disable", func(t *testing.T) int {
				w.clock.advance(mfaPeriod)
				return w.post(t, "/auth/mfa/disable", map[string]any{"token": w.code(t, secret, 0)}, "Authorization", bearer).Code
			}, wantRecord{w.a.ID, "login", "mfa-disable", "U", "0", 200, alice, aliceM, "", "User", ""}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				status := c.do(t)
				if status != c.want.status {
					t.Fatalf("status %d, want %d", status, c.want.status)
				}
				checkRecord(t, w.audit.Take(), c.want, secret)
			})
		}
	})
}

// TestMfaCookieReLogin: the client cookie of a sign-in made before MFA was
// turned on no longer signs in silently; that of a sign-in that passed its
// code does.
func TestMfaCookieReLogin(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newMfaWorld(t, st)
		client := w.client(t, w.a, NewClient{Name: "Alpha App", RedirectURIs: []string{testRedirect}})
		// signIn signs alice in through the client (with the MFA step
		// when secret is set) and returns the cookie and the tokens.
		signIn := func(t *testing.T, secret string) (*http.Cookie, map[string]any) {
			t.Helper()
			resp := w.post(t, "/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword, "clientId": client.ID,
				"scope": "openid", "codeChallenge": w.verifier, "codeChallengeMethod": "plain"})
			out := decodeMap(t, resp)
			if secret != "" {
				if resp.Header().Get("Set-Cookie") != "" {
					t.Fatal("cookie before the MFA step")
				}
				resp = w.post(t, "/auth/mfa/verify", map[string]any{"login": out["login"], "token": w.code(t, secret, 0)})
				out = decodeMap(t, resp)
			}
			cookie := findCookie(resp, "medplum-"+client.ID)
			status, tok := w.exchange(t, stringOf(out["code"]))
			if cookie == nil || status != 200 {
				t.Fatalf("sign-in: cookie %v, token %d %v", cookie, status, tok)
			}
			return cookie, tok
		}
		before, tok := signIn(t, "")
		secret := w.enroll(t, "Bearer "+tok["access_token"].(string))
		if u := location(t, w.authorize(t, authorizeQuery(client.ID, nil), before)); u.Path != "/oauth" {
			t.Fatalf("the cookie of a sign-in without a code signed in silently: %s", u)
		}
		after, _ := signIn(t, secret)
		u := location(t, w.authorize(t, authorizeQuery(client.ID, nil), after))
		if u.Scheme+"://"+u.Host+u.Path != testRedirect || !codePattern.MatchString(u.Query().Get("code")) {
			t.Fatalf("the cookie of a verified sign-in: redirected to %s", u)
		}
	})
}

// TestMfaCodeOnceAcrossProcesses: with SharedLoginLimits, two processes
// (two services on one database) share each user's used codes: a code
// accepted by one is refused by the other, as is an earlier code of the
// window, and the next step's code is accepted anywhere. Both engines
// (SQLite serves one process, but the store's claim is the same).
func TestMfaCodeOnceAcrossProcesses(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newMfaWorld(t, st)
		secret := w.enroll(t, w.bearer(t, "alice@example.com"))
		cfg := w.s.cfg
		cfg.SharedLoginLimits = true
		processes := []http.Handler{New(st, cfg).Handler(), New(st, cfg).Handler()}
		verify := func(on int, offset int) *httptest.ResponseRecorder {
			t.Helper()
			w.h = processes[on]
			loginID := w.login(t, "alice@example.com")["login"].(string)
			return w.post(t, "/auth/mfa/verify", map[string]any{"login": loginID, "token": w.code(t, secret, offset)})
		}
		for _, c := range []struct {
			name           string
			first, second  int // the processes accepting, then replaying
			replayedOffset int // the replayed code's step, from the accepted one's
		}{
			{"accepted on A, replayed on B", 0, 1, 0},
			{"accepted on B, replayed on A", 1, 0, 0},
			{"accepted on A, replayed on A", 0, 0, 0},
			{"accepted on A, an earlier code on B", 0, 1, -1},
		} {
			t.Run(c.name, func(t *testing.T) {
				if out := decodeMap(t, verify(c.first, 0)); out["code"] == nil {
					t.Fatalf("the current code on process %d: %v", c.first, out)
				}
				wantError(t, verify(c.second, c.replayedOffset), 400, "Invalid MFA token")
			})
			w.clock.advance(mfaPeriod) // the next case's code is a new one
		}
	})
}
