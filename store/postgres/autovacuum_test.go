package postgres

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestWarnWithoutAutovacuum: an operator whose server runs with autovacuum
// off is told so at start (tables never analyzed make plans degrade), and
// one whose server gathers statistics is not bothered. Session settings
// cannot turn autovacuum on or off, so the test checks the warning against
// what this server says.
func TestWarnWithoutAutovacuum(t *testing.T) {
	url := os.Getenv("WARD_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("WARD_TEST_POSTGRES_URL not set")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var setting string
	if err := pool.QueryRow(ctx, "SHOW autovacuum").Scan(&setting); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	warnWithoutAutovacuum(ctx, pool, slog.New(slog.NewTextHandler(&out, nil)))
	warned := strings.Contains(out.String(), "autovacuum is off")
	if warned != (setting == "off") {
		t.Errorf("autovacuum = %s, warned = %v: %q", setting, warned, out.String())
	}
}
