package store_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestSharedAttempts: a bucket of 3 allows 3 attempts, then none until
// it refills one every 10 s; keys are separate; idle full buckets are
// dropped and start full again.
func TestSharedAttempts(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		spend := func(key string) bool {
			t.Helper()
			ok, err := s.SpendAttempt(ctx, key, now, 3, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		left := func(key string) bool {
			t.Helper()
			ok, err := s.AttemptsLeft(ctx, key, now, 3, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !left("a") {
			t.Fatal("an untried key has no attempt left")
		}
		for i := range 3 {
			if !spend("a") {
				t.Fatalf("attempt %d of 3 refused", i+1)
			}
		}
		if spend("a") || left("a") {
			t.Fatal("a 4th attempt within the burst was allowed")
		}
		if !spend("b") {
			t.Fatal("another key's attempt refused")
		}
		now = now.Add(10 * time.Second)
		if !left("a") || !spend("a") {
			t.Fatal("no attempt after one refill interval")
		}
		if spend("a") {
			t.Fatal("two attempts after one refill interval")
		}
		now = now.Add(time.Hour)
		if err := s.DropFullAttempts(ctx, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		var rows int
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM login_attempts").Scan(&rows); err != nil || rows != 0 {
			t.Fatalf("%d bucket rows after dropping the idle ones (%v)", rows, err)
		}
		for range 3 {
			if !spend("a") {
				t.Fatal("a dropped bucket does not start full")
			}
		}
	})
}

// BenchmarkSpendAttempt: what sharing the sign-in limits adds to a sign-in
// (two of these: the address's bucket and the account's), both engines.
func BenchmarkSpendAttempt(b *testing.B) {
	for _, engine := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		b.Run(engine.name, func(b *testing.B) {
			if engine.name == "postgres" && os.Getenv(storetest.PostgresURLEnv) == "" {
				b.Skip(storetest.PostgresURLEnv + " not set")
			}
			s := engine.open(b)
			ctx := context.Background()
			now := time.Now()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.SpendAttempt(ctx, fmt.Sprint("login/address/10.0.", i%256), now, 100, time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
