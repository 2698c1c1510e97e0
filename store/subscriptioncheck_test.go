package store_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/egress"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestSubscriptionEndpointLimits: a rest-hook endpoint that is a literal
// link-local or metadata address is 400 at write whatever the operator
// allows; a literal loopback or private one is 400 unless private
// endpoints are allowed; a name passes (it is checked when dialled).
func TestSubscriptionEndpointLimits(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: uuid.NewString(), Admin: true})
		for _, tc := range []struct {
			endpoint            string
			strictOK, privateOK bool
		}{
			{"https://hooks.example.com/in", true, true},
			{"https://93.184.216.34/in", true, true},
			{"http://localhost:8080/in", true, true},
			{"http://169.254.169.254/latest/meta-data/", false, false},
			{"http://[fe80::1]/in", false, false},
			{"http://[::ffff:169.254.169.254]/in", false, false},
			{"http://100.100.100.200/in", false, false},
			{"http://0.0.0.0:8080/in", false, false},
			{"http://127.0.0.1:8080/in", false, true},
			{"http://[::1]:8080/in", false, true},
			{"http://10.0.0.5/in", false, true},
			{"http://192.168.1.20/in", false, true},
		} {
			for _, allow := range []bool{false, true} {
				s.SetHookEndpoints(egress.Policy{AllowPrivate: allow})
				err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
					_, err := tx.Create(ctx, "Subscription", []byte(`{"resourceType":"Subscription","status":"active","reason":"t",
						"criteria":"Patient","channel":{"type":"rest-hook","endpoint":"`+tc.endpoint+`"}}`))
					return err
				})
				want := tc.strictOK
				if allow {
					want = tc.privateOK
				}
				if want && err != nil || !want && ward.ErrorCode(err) != ward.EINVALID {
					t.Errorf("%s with private endpoints allowed=%v: %v, want ok=%v (else 400)", tc.endpoint, allow, err, want)
				}
			}
		}
	})
}
