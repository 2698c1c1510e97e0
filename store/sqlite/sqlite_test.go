package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wardhealth/ward/store/sqlite"
)

// TestPathWithURICharacters: a database path with '#', '?' or '%' (a
// subtest's temporary directory "Case#1") opens that very file.
func TestPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Case#1 50%?x")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ward.db")
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not at %s: %v", path, err)
	}
}
