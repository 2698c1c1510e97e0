package auth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/storetest"
)

// Several Ward processes started together on one empty PostgreSQL database
// (each its own pool, as separate processes have): every one migrates and
// seeds without an error, and the database ends with one super admin, one
// Super Admin project, one ClientApplication and one signing key. Before
// the advisory locks one died in goose's table creation
// (pg_type_typname_nsp_index) or several seeded side by side.
func TestSeedFromProcessesStartedTogether(t *testing.T) {
	const processes = 4
	dbURL, schema := storetest.PostgresSchema(t)
	ctx := context.Background()
	services := make([]*Service, processes)
	errs := make([]error, processes)
	var wg, opened sync.WaitGroup
	start := make(chan struct{})
	opened.Add(processes)
	for i := range processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Migrations race here; the seeds then start together too,
			// the interleaving that made several super admins.
			services[i], errs[i] = startProcess(ctx, t, dbURL, schema, opened.Done, opened.Wait)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	s := services[0]
	for _, c := range []struct {
		typ   string
		query url.Values
	}{
		{"User", url.Values{"email": {seedAdminEmail}}},
		{"Project", url.Values{"name": {"Super Admin"}}},
		{"ClientApplication", nil},
		{"JsonWebKey", url.Values{"active": {"true"}}},
		{"Project", url.Values{"_id": {ward.R4ProjectID}}},
	} {
		found, err := s.searchSystem(ctx, c.typ, c.query)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 {
			t.Errorf("%s?%s: %d resources, want exactly 1", c.typ, c.query.Encode(), len(found))
		}
	}
}

// startProcess does what `ward serve` does before listening: open (and
// migrate) the store, then seed. It calls opened after the migration and
// waits for seed before seeding.
func startProcess(ctx context.Context, t *testing.T, dbURL, schema string, opened, seed func()) (*Service, error) {
	st, err := postgres.Open(ctx, dbURL, postgres.Options{SearchPath: schema, MaxConns: 4})
	opened()
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	t.Cleanup(func() { st.Close() })
	seed()
	s := New(st, Config{BaseURL: tokBase, BcryptCost: bcrypt.MinCost, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.Seed(ctx); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	return s, nil
}
