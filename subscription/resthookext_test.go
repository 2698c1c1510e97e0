package subscription_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/subscription"
)

// verify is what a receiver does with X-Signature: HMAC-SHA256 of the
// body it received, keyed by the secret it shares, compared in constant time.
func verify(secret, body, sig string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	want, err := hex.DecodeString(sig)
	return err == nil && hmac.Equal(mac.Sum(nil), want)
}

func secretExt(url, secret string) string {
	return fmt.Sprintf(`"extension":[{"url":%q,"valueString":%q}],`, url, secret)
}

// TestRestHookSignature: a Subscription with Medplum's subscription-secret
// extension (or its first URL) has each body, a deletion's {} too, signed
// in X-Signature so its receiver can verify it; a channel header cannot
// replace the signature; without a secret no X-Signature is sent.
func TestRestHookSignature(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		signed, legacy, plain := newScripted(t, always(200)), newScripted(t, always(200)), newScripted(t, always(200))
		createSubscription(t, s, a, "Patient", signed.URL, secretExt(subscription.SecretURL, "s3cret"), `"header":["X-Signature: forged"],`)
		createSubscription(t, s, a, "Patient", legacy.URL, secretExt("https://www.medplum.com/fhir/StructureDefinition-subscriptionSecret", "old"))
		createSubscription(t, s, a, "Patient", plain.URL)
		stop := run(t, s, &subscription.Dispatcher{Store: s, Poll: 5 * time.Millisecond, AllowPrivateEndpoints: true,
			Principals: projectAdmin(proj)})
		defer stop()

		p := createPatient(t, s, a)
		signed.waitCalls(t, 1, 10*time.Second)
		remove(t, s, a, "Patient", p)
		for _, h := range []*scripted{signed, legacy, plain} {
			h.waitCalls(t, 2, 10*time.Second)
		}
		for name, tc := range map[string]struct {
			h      *scripted
			secret string
		}{"secret": {signed, "s3cret"}, "legacy URL": {legacy, "old"}} {
			for _, c := range tc.h.received() {
				if sig := c.header.Get("X-Signature"); !verify(tc.secret, c.body, sig) {
					t.Errorf("%s: X-Signature %q does not verify body %q with the secret", name, sig, c.body)
				}
				if verify("wrong", c.body, c.header.Get("X-Signature")) {
					t.Errorf("%s: the signature verifies with another secret", name)
				}
			}
		}
		for _, c := range plain.received() {
			if sig, ok := c.header["X-Signature"]; ok {
				t.Errorf("a Subscription without a secret sent X-Signature %v", sig)
			}
		}
	})
}

// TestRestHookSuccessCodes: with Medplum's subscription-success-codes a
// status it lists is a delivery (no retry), one it does not is a failure
// (retried, audited as one); without it 2xx and 3xx succeed.
func TestRestHookSuccessCodes(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		codes := func(v string) string {
			return fmt.Sprintf(`"extension":[{"url":%q,"valueString":%q},{"url":%q,"valueInteger":1}],`,
				subscription.SuccessCodesURL, v, subscription.MaxAttemptsURL)
		}
		maxOne := fmt.Sprintf(`"extension":[{"url":%q,"valueInteger":1}],`, subscription.MaxAttemptsURL)
		cases := []struct {
			name     string
			ext      string
			status   int
			attempts int // 1: delivered; 2: failed and retried once
			hook     *scripted
		}{
			{name: "500 listed in a range", ext: codes("200, 300,400-505"), status: 500, attempts: 1},
			{name: "200 not listed", ext: codes("300,400-505"), status: 200, attempts: 2},
			{name: "202 in 200-299", ext: codes("200-299"), status: 202, attempts: 1},
			{name: "302 outside 200-299", ext: codes("200-299"), status: 302, attempts: 2},
			{name: "an entry not a number falls back to 2xx and 3xx", ext: codes("123, fda-fda"), status: 204, attempts: 1},
			{name: "no extension: 302 succeeds", ext: maxOne, status: 302, attempts: 1},
			{name: "no extension: 404 fails", ext: maxOne, status: 404, attempts: 2},
		}
		for i := range cases {
			cases[i].hook = newScripted(t, always(cases[i].status))
			createSubscription(t, s, a, "Patient", cases[i].hook.URL, cases[i].ext)
		}
		trail := &auditLog{}
		stop := run(t, s, &subscription.Dispatcher{Store: s, Poll: 5 * time.Millisecond, RetryBase: 50 * time.Millisecond, AllowPrivateEndpoints: true,
			Audit: trail, Principals: projectAdmin(proj)})
		defer stop()
		createPatient(t, s, a)
		failures := 0
		for _, tc := range cases {
			tc.hook.waitCalls(t, tc.attempts, 10*time.Second)
			failures += 2 * (tc.attempts - 1)
		}
		time.Sleep(300 * time.Millisecond) // a retry would come after 50ms
		for _, tc := range cases {
			if n := len(tc.hook.received()); n != tc.attempts {
				t.Errorf("%s: the hook answering %d got %d attempts, want %d", tc.name, tc.status, n, tc.attempts)
			}
		}
		if got := trail.outcomes(); got["4"] != failures {
			t.Errorf("audited outcomes %v, want %d failures", got, failures)
		}
	})
}
