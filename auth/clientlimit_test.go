package auth

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestClientSecretGuessingIsLimited: a wrong client secret spends a
// sign-in attempt of the client and is recorded, on the token endpoint
// (client_credentials with form fields or Basic) and on the FHIR API
// (Basic); once the attempts are spent even the right secret is 429.
// Right secrets spend nothing, so a busy service is never throttled.
func TestClientSecretGuessingIsLimited(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		var mu sync.Mutex
		var failures []LoginFailure
		f := newTokFixture(t, st, func(c *Config) {
			c.LoginFailed = func(_ context.Context, lf LoginFailure) {
				mu.Lock()
				defer mu.Unlock()
				failures = append(failures, lf)
			}
		})
		basic := func(secret string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(f.client.ID+":"+secret))
		}
		paths := map[string]func(secret string) int{
			"token form": func(secret string) int {
				return f.postForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {f.client.ID}, "client_secret": {secret}}).Code
			},
			"token Basic": func(secret string) int {
				return f.postForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "Authorization", basic(secret)).Code
			},
			"FHIR Basic": func(secret string) int {
				r := httptest.NewRequest("GET", "/fhir/R4/Patient", nil)
				r.Header.Set("Authorization", basic(secret))
				switch _, err := f.s.Authenticate(r); ward.ErrorCode(err) {
				case "":
					return http.StatusOK
				case ward.ETOOMANY:
					return http.StatusTooManyRequests
				default:
					return http.StatusUnauthorized
				}
			},
		}
		for name, try := range paths {
			f.s.limit = newLimiterWith(limitRule{burst: 3, every: time.Hour}, limitRule{burst: 100, every: time.Hour}, 1000)
			f.s.cache = newPrincipalCache()
			mu.Lock()
			failures = nil
			mu.Unlock()
			for i := range 5 {
				if got := try(f.client.Secret); got != http.StatusOK {
					t.Fatalf("%s: right secret #%d: %d", name, i, got)
				}
			}
			for i := range 3 {
				if got := try("guess"); got == http.StatusOK || got == http.StatusTooManyRequests {
					t.Errorf("%s: wrong secret #%d: %d, want refused", name, i, got)
				}
			}
			if got := try("guess"); got != http.StatusTooManyRequests {
				t.Errorf("%s: fourth wrong secret: %d, want 429", name, got)
			}
			f.s.cache = newPrincipalCache() // the right secret must reach the check
			if got := try(f.client.Secret); got != http.StatusTooManyRequests {
				t.Errorf("%s: right secret after the guesses: %d, want 429", name, got)
			}
			mu.Lock()
			if len(failures) < 4 || failures[0].ClientID != f.client.ID || failures[0].Reason != "wrong client secret" || failures[len(failures)-1].Reason != "rate limited" {
				t.Errorf("%s: recorded failures %+v", name, failures)
			}
			mu.Unlock()
		}
	})
}
