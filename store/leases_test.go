package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestLeases: one holder at a time; the holder renews; another takes the
// lease only once it expired or was released; concurrent takers of a free
// lease get it exactly once; live leases are listed by prefix.
func TestLeases(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		s.Now = func() time.Time { return now }
		job := store.LeaseRef{ProjectID: "p1", Name: "job/1"}
		take := func(holder string) bool {
			t.Helper()
			ok, err := s.TakeLease(ctx, job, holder, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !take("a") {
			t.Fatal("a cannot take a free lease")
		}
		if take("b") {
			t.Fatal("b took a's live lease")
		}
		now = now.Add(8 * time.Second)
		if !take("a") {
			t.Fatal("a cannot renew its lease")
		}
		now = now.Add(8 * time.Second) // 16 s after the first take: renewed, still a's
		if take("b") {
			t.Fatal("b took a's renewed lease")
		}
		if live, err := s.LiveLeases(ctx, "job/"); err != nil || !slices.Equal(live, []store.LeaseRef{job}) {
			t.Fatalf("live job leases %v %v, want %v", live, err, job)
		}
		if live, _ := s.LiveLeases(ctx, "feed/"); len(live) != 0 {
			t.Fatalf("live feed leases %v, want none", live)
		}
		now = now.Add(11 * time.Second) // a died: its lease expired
		if live, _ := s.LiveLeases(ctx, "job/"); len(live) != 0 {
			t.Fatalf("live job leases %v after expiry, want none", live)
		}
		if !take("b") {
			t.Fatal("b cannot take a's expired lease")
		}
		if take("a") {
			t.Fatal("a took back b's lease")
		}
		if err := s.ReleaseLease(ctx, job, "a"); err != nil {
			t.Fatal(err)
		}
		if take("c") {
			t.Fatal("a's release (not the holder) freed b's lease")
		}
		if err := s.ReleaseLease(ctx, job, "b"); err != nil {
			t.Fatal(err)
		}
		if !take("c") {
			t.Fatal("c cannot take a released lease")
		}

		feed := store.LeaseRef{ProjectID: "system", Name: "feed/kafka"}
		var wins sync.WaitGroup
		won := make(chan string, 8)
		for _, h := range []string{"h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"} {
			wins.Go(func() {
				ok, err := s.TakeLease(ctx, feed, h, time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won <- h
				}
			})
		}
		wins.Wait()
		close(won)
		var holders []string
		for h := range won {
			holders = append(holders, h)
		}
		if len(holders) != 1 {
			t.Fatalf("a free lease taken by %v at once, want exactly one holder", holders)
		}
		now = now.Add(2 * time.Minute)
		if err := s.DropExpiredLeases(ctx, time.Second); err != nil {
			t.Fatal(err)
		}
		var rows int
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM leases").Scan(&rows); err != nil || rows != 0 {
			t.Fatalf("%d lease rows after dropping the expired ones (%v), want 0", rows, err)
		}
	})
}

// TestLeaseFencing: each new claim of a lease gets a larger token, a
// renewal keeps it; a claim that lost its lease can neither renew it,
// release it, write under it (nothing of the write is kept) nor drop its
// job's run, while the claim that took it over can. Both engines.
func TestLeaseFencing(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		s.Now = func() time.Time { return now }
		project := "p-fence"
		ref := store.LeaseRef{ProjectID: project, Name: "job/7"}
		claim := func(holder string) (store.Lease, bool) {
			t.Helper()
			l, ok, err := s.ClaimLease(ctx, ref, holder, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return l, ok
		}
		a, ok := claim("a")
		if !ok || a.Token <= 0 {
			t.Fatalf("a's claim of a free lease: %v %v, want a positive token", a, ok)
		}
		if again, ok := claim("a"); !ok || again.Token != a.Token {
			t.Fatalf("a's renewal by claim got token %d (%v), want its own %d", again.Token, ok, a.Token)
		}
		if _, ok := claim("b"); ok {
			t.Fatal("b claimed a's live lease")
		}
		now = now.Add(11 * time.Second) // a stalls past its lease; nobody took it yet
		if ok, err := s.RenewLease(ctx, a, 10*time.Second); err != nil || !ok {
			t.Fatalf("a cannot renew its expired but untaken lease: %v %v", ok, err)
		}
		now = now.Add(11 * time.Second) // a stalls again; b takes the work over
		b, ok := claim("b")
		if !ok || b.Token <= a.Token {
			t.Fatalf("b's takeover got token %d (%v), want more than a's %d", b.Token, ok, a.Token)
		}
		if ok, err := s.RenewLease(ctx, a, 10*time.Second); err != nil || ok {
			t.Fatalf("a renewed a lease b took over: %v %v", ok, err)
		}

		in := ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: project, Admin: true})
		create := func(ctx context.Context, name string) error {
			return s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
				_, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient","name":[{"family":"`+name+`"}]}`))
				return err
			})
		}
		if err := create(store.WithFence(in, a), "Stale"); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("a write under a's lost claim: %v, want ErrLeaseLost", err)
		}
		if err := create(store.WithFence(in, b), "Current"); err != nil {
			t.Fatalf("a write under b's claim: %v", err)
		}
		if err := create(in, "Unfenced"); err != nil {
			t.Fatalf("a write under no claim: %v", err)
		}
		for family, want := range map[string]int{"Stale": 0, "Current": 1, "Unfenced": 1} {
			var n int
			err := s.DB().QueryRowContext(ctx, s.Dialect().Rebind(`SELECT COUNT(*) FROM resources WHERE project_id = ? AND resource_type = 'Patient' AND content LIKE ?`),
				project, "%"+family+"%").Scan(&n)
			if err != nil || n != want {
				t.Errorf("%d Patients %s after the fenced writes (%v), want %d", n, family, err, want)
			}
		}

		if err := s.SaveJobRun(ctx, project, "7", "export", []byte(`{}`), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.DropJobRun(store.WithFence(ctx, a), project, "7"); err != nil {
			t.Fatal(err)
		}
		if kind, _, _, _ := s.LoadJobRun(ctx, project, "7"); kind != "export" {
			t.Fatal("a's lost claim dropped the job's run b needs")
		}
		if err := s.DropJobRun(store.WithFence(ctx, b), project, "7"); err != nil {
			t.Fatal(err)
		}
		if kind, _, _, _ := s.LoadJobRun(ctx, project, "7"); kind != "" {
			t.Fatal("b's claim did not drop the job's run")
		}

		if err := s.ReleaseClaim(ctx, a); err != nil {
			t.Fatal(err)
		}
		if _, ok := claim("c"); ok {
			t.Fatal("a's stale release freed b's lease")
		}
		if err := s.ReleaseClaim(ctx, b); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
		c, ok := claim("c")
		if !ok || c.Token <= b.Token {
			t.Fatalf("c's claim of a released lease got token %d (%v), want more than b's %d", c.Token, ok, b.Token)
		}
	})
}

// TestFencedWriteHoldsOffTakeover: a takeover's claim made while a write
// under the current claim is in its transaction waits for that write's
// commit — it cannot slip between the write's check and its commit — and
// then takes the expired lease; the write is kept. Both engines.
func TestFencedWriteHoldsOffTakeover(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		s.Now = func() time.Time { return now }
		project := "p-race"
		ref := store.LeaseRef{ProjectID: project, Name: "job/8"}
		a, ok, err := s.ClaimLease(ctx, ref, "a", 10*time.Second)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		now = now.Add(11 * time.Second) // a's lease expired, untaken: a's write still goes

		in := store.WithFence(ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: project, Admin: true}), a)
		checked, commit := make(chan struct{}), make(chan struct{})
		var once sync.Once
		release := func() { once.Do(func() { close(commit) }) }
		defer release() // a failure below must not leave the write holding the writer
		wrote := make(chan error, 1)
		go func() {
			wrote <- s.Write(in, func(ctx context.Context, tx ward.ResourceTx) error {
				close(checked) // the fence was checked first
				<-commit
				_, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient","name":[{"family":"Raced"}]}`))
				return err
			})
		}()
		<-checked
		claimed := make(chan bool, 1)
		go func() {
			_, ok, err := s.ClaimLease(ctx, ref, "b", 10*time.Second)
			if err != nil {
				t.Error(err)
			}
			claimed <- ok
		}()
		select {
		case ok := <-claimed:
			release()
			<-wrote
			t.Fatalf("b's claim returned (%v) while a's fenced write was in its transaction", ok)
		case <-time.After(300 * time.Millisecond):
		}
		release()
		if err := <-wrote; err != nil {
			t.Fatalf("a's write under its checked claim: %v", err)
		}
		if !<-claimed {
			t.Fatal("b cannot take the expired lease once a's write committed")
		}
		var n int
		if err := s.DB().QueryRowContext(ctx, s.Dialect().Rebind(`SELECT COUNT(*) FROM resources WHERE project_id = ? AND content LIKE ?`),
			project, "%Raced%").Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d of a's writes kept (%v), want 1", n, err)
		}
		if err := s.Write(in, func(ctx context.Context, tx ward.ResourceTx) error { return nil }); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("a's write after b's claim: %v, want ErrLeaseLost", err)
		}
	})
}
