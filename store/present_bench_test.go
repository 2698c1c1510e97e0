package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
)

// BenchmarkOutputGate reads the same 2 KB Patient by id as its project's
// admin in extended mode (the gate keeps every byte) and without it (the
// gate rewrites meta), and a User as a super admin (the gate also drops
// the password hash), each caller first in turn. It reports each mean and
// the ratios to the extended read: the price of the gate on a read.
// Run: go test -run '^$' -bench OutputGate -benchtime 5000x ./store/
func BenchmarkOutputGate(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b)
			proj := uuid.NewString()
			patient := sysCreate(b, s, proj, "Patient", `{"name":[{"family":"Gate"}],"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">`+strings.Repeat("x", 1800)+`</div>"}}`)
			user := sysCreate(b, s, proj, "User", `{"email":"g@example.com","firstName":"G","lastName":"B","passwordHash":"$2a$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0","mfaSecret":"SECRET"}`)
			superPolicy := policyOf(b, `{"id":"`+proj+`","superAdmin":true}`, `{"admin":true,"profile":{"reference":"Practitioner/root"}}`, nil)
			adminPolicy := policyOf(b, `{"id":"`+proj+`"}`, `{"admin":true,"profile":{"reference":"Practitioner/adm"}}`, nil)
			reads := []struct {
				ctx context.Context
				res *ward.Resource
			}{
				{ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: proj, Admin: true, Policy: adminPolicy, Extended: true}), patient},
				{ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: proj, Admin: true, Policy: adminPolicy}), patient},
				{ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: proj, System: true, Admin: true, Policy: superPolicy}), user},
			}
			took := timeInTurns(b, len(reads), func(_, c int) error {
				_, err := s.Read(reads[c].ctx, reads[c].res.Type, reads[c].res.ID)
				return err
			})
			n := float64(b.N)
			b.ReportMetric(float64(took[0].Microseconds())/n, "extended-µs")
			b.ReportMetric(float64(took[1].Microseconds())/n, "plain-µs")
			b.ReportMetric(float64(took[2].Microseconds())/n, "user-µs")
			b.ReportMetric(float64(took[1])/float64(max(took[0], 1)), "plain-x-extended")
			b.ReportMetric(float64(took[2])/float64(max(took[0], 1)), "user-x-extended")
		})
	}
}
