package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

const testRedirect = "https://app.alpha.test/callback"

func authorizeQuery(clientID string, edit func(url.Values)) url.Values {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {testRedirect},
		"state":                 {"st-123"},
		"scope":                 {"openid profile"},
		"code_challenge":        {"challenge-abc"},
		"code_challenge_method": {"plain"},
	}
	if edit != nil {
		edit(q)
	}
	return q
}

// authorize sends GET /oauth2/authorize with q and the given cookies.
func (f *loginFixture) authorize(t *testing.T, q url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/oauth2/authorize?"+q.Encode(), nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// location parses the redirect of a 302.
func location(t *testing.T, w *httptest.ResponseRecorder) *url.URL {
	t.Helper()
	if w.Code != http.StatusFound {
		t.Fatalf("status %d, want 302: %s", w.Code, w.Body)
	}
	u, err := url.Parse(w.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestAuthorize(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		pa := f.project(t, "Alpha Clinic", false)
		henry := f.user(t, "henry@example.com", "")
		m := f.member(t, pa, henry, "Practitioner", "Henry", "H")
		client := f.client(t, pa, NewClient{Name: "Alpha App", RedirectURIs: []string{testRedirect}})
		other := f.client(t, pa, NewClient{Name: "Legacy App", RedirectURI: "https://legacy.test/cb", PkceOptional: true})

		t.Run("errors shown, not redirected", func(t *testing.T) {
			cases := []struct {
				name string
				q    url.Values
				text string
			}{
				{"unknown client", authorizeQuery(ward.NewID(), nil), "Client not found"},
				{"no client", authorizeQuery("", nil), "Client not found"},
				{"unregistered redirect", authorizeQuery(client.ID, func(q url.Values) { q.Set("redirect_uri", "https://evil.test/cb") }), "Incorrect redirect_uri"},
				{"no redirect", authorizeQuery(client.ID, func(q url.Values) { q.Del("redirect_uri") }), "Incorrect redirect_uri"},
				{"another client's redirect", authorizeQuery(client.ID, func(q url.Values) { q.Set("redirect_uri", "https://legacy.test/cb") }), "Incorrect redirect_uri"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					wantError(t, f.authorize(t, c.q), 400, c.text)
				})
			}
		})
		t.Run("errors redirected with state", func(t *testing.T) {
			cases := []struct {
				name string
				q    url.Values
				want string
			}{
				{"response_type token", authorizeQuery(client.ID, func(q url.Values) { q.Set("response_type", "token") }), "unsupported_response_type"},
				{"request object", authorizeQuery(client.ID, func(q url.Values) { q.Set("request", "eyJ...") }), "request_not_supported"},
				{"no state", authorizeQuery(client.ID, func(q url.Values) { q.Del("state") }), "invalid_request"},
				{"no PKCE", authorizeQuery(client.ID, func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }), "invalid_request"},
				{"bad PKCE method", authorizeQuery(client.ID, func(q url.Values) { q.Set("code_challenge_method", "S1") }), "invalid_request"},
				{"prompt none without session", authorizeQuery(client.ID, func(q url.Values) { q.Set("prompt", "none") }), "login_required"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					u := location(t, f.authorize(t, c.q))
					if got := u.Scheme + "://" + u.Host + u.Path; got != testRedirect {
						t.Fatalf("redirected to %s", u)
					}
					if u.Query().Get("error") != c.want || (c.q.Get("state") != "" && u.Query().Get("state") != "st-123") {
						t.Errorf("query %v, want error %s with state", u.Query(), c.want)
					}
				})
			}
		})
		t.Run("no session goes to the sign-in page", func(t *testing.T) {
			q := authorizeQuery(client.ID, nil)
			u := location(t, f.authorize(t, q))
			if u.Scheme+"://"+u.Host+u.Path != "https://ward.test/oauth" || u.Query().Encode() != q.Encode() {
				t.Errorf("redirected to %s", u)
			}
			// pkceOptional client with its legacy single redirectUri
			q = authorizeQuery(other.ID, func(q url.Values) {
				q.Set("redirect_uri", "https://legacy.test/cb")
				q.Del("code_challenge")
				q.Del("code_challenge_method")
			})
			if u := location(t, f.authorize(t, q)); u.Path != "/oauth" {
				t.Errorf("pkceOptional client redirected to %s", u)
			}
		})

		// A signed-in browser: /auth/login with the client sets the cookie;
		// the token exchange (H1) marks the login granted.
		signIn := func(t *testing.T, edit func(*Login)) (*http.Cookie, *Login) {
			t.Helper()
			w := f.post(t, "/auth/login", map[string]any{"email": "henry@example.com", "password": testPassword, "clientId": client.ID, "scope": "openid"})
			out := decodeLogin(t, w)
			cookie := findCookie(w, "medplum-"+client.ID)
			login, err := f.s.readLogin(context.Background(), out.Login)
			if err != nil || cookie == nil {
				t.Fatalf("login %v, cookie %v", err, cookie)
			}
			login.Granted = true
			if edit != nil {
				edit(login)
			}
			if err := f.s.saveLogin(context.Background(), login); err != nil {
				t.Fatal(err)
			}
			return cookie, login
		}
		t.Run("cookie gives a silent re-login", func(t *testing.T) {
			cookie, old := signIn(t, nil)
			q := authorizeQuery(client.ID, func(q url.Values) { q.Set("nonce", "n-1"); q.Set("code_challenge", "fresh-challenge") })
			u := location(t, f.authorize(t, q, cookie))
			if u.Scheme+"://"+u.Host+u.Path != testRedirect || u.Query().Get("state") != "st-123" {
				t.Fatalf("redirected to %s", u)
			}
			code := u.Query().Get("code")
			if !codePattern.MatchString(code) || code == old.Code {
				t.Fatalf("code %q (old %q)", code, old.Code)
			}
			found, err := f.s.searchSystem(context.Background(), "Login", url.Values{"code": {code}})
			if err != nil || len(found) != 1 {
				t.Fatalf("login of the new code: %v %d", err, len(found))
			}
			var fresh Login
			_ = decodeResource(found[0], &fresh)
			if fresh.ID == old.ID || fresh.Membership.Reference != "ProjectMembership/"+m.ID || fresh.CodeChallenge != "fresh-challenge" ||
				fresh.Nonce != "n-1" || fresh.Granted || fresh.AuthTime != old.AuthTime {
				t.Errorf("fresh login %+v", fresh)
			}
		})
		notSilent := []struct {
			name  string
			edit  func(*Login)
			query func(url.Values)
		}{
			{"prompt login", nil, func(q url.Values) { q.Set("prompt", "login") }},
			{"revoked", func(l *Login) { l.Revoked = true }, nil},
			{"not yet granted", func(l *Login) { l.Granted = false }, nil},
			{"older than max_age", func(l *Login) { l.AuthTime = instant(time.Now().Add(-2 * time.Hour)) }, nil},
			{"older than explicit max_age", func(l *Login) { l.AuthTime = instant(time.Now().Add(-2 * time.Minute)) }, func(q url.Values) { q.Set("max_age", "60") }},
		}
		for _, c := range notSilent {
			t.Run("no silent re-login: "+c.name, func(t *testing.T) {
				cookie, _ := signIn(t, c.edit)
				if u := location(t, f.authorize(t, authorizeQuery(client.ID, c.query), cookie)); u.Path != "/oauth" {
					t.Errorf("redirected to %s", u)
				}
			})
		}
		t.Run("POST form", func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/authorize", strings.NewReader(authorizeQuery(client.ID, nil).Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			if u := location(t, w); u.Path != "/oauth" || u.Query().Get("client_id") != client.ID {
				t.Errorf("redirected to %s", u)
			}
		})
		t.Run("sign-in page", func(t *testing.T) {
			w := f.do(t, http.MethodGet, "/oauth?"+authorizeQuery(client.ID, nil).Encode(), nil)
			if w.Code != 200 || !strings.Contains(w.Body.String(), "Sign in to Alpha App") || !strings.Contains(w.Body.String(), `"https://ward.test/"`) {
				t.Fatalf("page %d: %.300s", w.Code, w.Body)
			}
			csp := w.Header().Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'nonce-") || !strings.Contains(w.Body.String(), `<script nonce="`) || strings.Contains(w.Body.String(), "{{") {
				t.Errorf("CSP %q or unreplaced placeholders", csp)
			}
			wantError(t, f.do(t, http.MethodGet, "/oauth?"+authorizeQuery(client.ID, func(q url.Values) { q.Set("redirect_uri", "https://evil.test/") }).Encode(), nil), 400, "Incorrect redirect_uri")
		})
	})
}
