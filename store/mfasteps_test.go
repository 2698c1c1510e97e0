package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestClaimMfaStep: a user's step is claimed once; an earlier step after
// a later one is refused; another user's same step is theirs; of
// concurrent claims of one step exactly one wins; dropped old claims do
// not touch recent ones.
func TestClaimMfaStep(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		claim := func(user string, step int64) bool {
			t.Helper()
			ok, err := s.ClaimMfaStep(ctx, user, step)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		for _, c := range []struct {
			user string
			step int64
			want bool
		}{
			{"u1", 100, true},
			{"u1", 100, false}, // the same code again
			{"u2", 100, true},  // another user's
			{"u1", 99, false},  // an earlier code after a later one
			{"u1", 101, true},  // the next code
			{"u1", 101, false},
		} {
			if got := claim(c.user, c.step); got != c.want {
				t.Errorf("claim(%s, %d) = %v, want %v", c.user, c.step, got, c.want)
			}
		}
		var wins sync.WaitGroup
		won := make(chan bool, 8)
		for range 8 {
			wins.Add(1)
			go func() {
				defer wins.Done()
				ok, err := s.ClaimMfaStep(ctx, "u3", 200)
				if err != nil {
					t.Error(err)
				}
				won <- ok
			}()
		}
		wins.Wait()
		close(won)
		n := 0
		for ok := range won {
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d of 8 concurrent claims of one step won, want 1", n)
		}
		if err := s.DropMfaStepsBefore(ctx, 101); err != nil {
			t.Fatal(err)
		}
		if !claim("u2", 100) { // u2's claim of 100 was dropped
			t.Error("u2's dropped claim still refuses its step")
		}
		if claim("u1", 101) {
			t.Error("u1's claim of 101 was dropped with the older ones")
		}
	})
}
