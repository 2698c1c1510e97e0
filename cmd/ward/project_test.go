package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store/sqlite"
)

// seedProject stores a small project in the SQLite database of dir.
func seedProject(t *testing.T, dir, project string) {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "ward.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sys := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
	for _, r := range []map[string]any{
		{"resourceType": "Project", "id": project, "name": "Leaving"},
		{"resourceType": "Patient", "name": []any{map[string]any{"family": "Backed"}}},
	} {
		r["meta"] = map[string]any{"project": project}
		body, _ := json.Marshal(r)
		err := s.Write(sys, func(ctx context.Context, tx ward.ResourceTx) error {
			if id, ok := r["id"].(string); ok {
				_, _, err := tx.Update(ctx, r["resourceType"].(string), id, body, "")
				return err
			}
			_, err := tx.Create(ctx, r["resourceType"].(string), body)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// patientsIn counts the project's Patients in the database of dir.
func patientsIn(t *testing.T, dir, project string) int {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "ward.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.DB().QueryRow(`SELECT COUNT(*) FROM resources WHERE project_id = ? AND resource_type = 'Patient'`, project).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestProjectBackup: `ward project export` writes an age-encrypted backup;
// `ward project import` restores it on another server with the project's
// key file, and refuses — writing nothing — without the key, with another
// key, or when the file was tampered with. Once the project is erased, the
// server that made the backup can no longer read it (crypto-shredding).
func TestProjectBackup(t *testing.T) {
	ctx := context.Background()
	origin, elsewhere, files := t.TempDir(), t.TempDir(), t.TempDir()
	project := uuid.NewString()
	seedProject(t, origin, project)
	backup, key := filepath.Join(files, "leaving.ward"), filepath.Join(files, "leaving.key")
	if err := run(ctx, []string{"project", "export", "-project", project, "-out", backup, "-data-dir", origin}); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"project", "export", "-project", project, "-out", backup, "-data-dir", origin}); err == nil {
		t.Error("a second export overwrote the backup")
	}
	raw, _ := os.ReadFile(backup)
	if strings.Contains(string(raw), "Backed") {
		t.Fatal("the backup holds clear text")
	}
	if err := run(ctx, []string{"project", "key", "-project", project, "-out", key, "-data-dir", origin}); err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	wrongKey := filepath.Join(files, "other.key")
	os.WriteFile(wrongKey, []byte(other.String()+"\n"), 0o600)
	tampered := filepath.Join(files, "tampered.ward")
	bad := []byte(string(raw))
	bad[len(bad)-40] ^= 1
	os.WriteFile(tampered, bad, 0o600)

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"without the key", []string{"-in", backup}, "no backup key"},
		{"with another key", []string{"-in", backup, "-identity", wrongKey}, "cannot decrypt"},
		{"tampered", []string{"-in", tampered, "-identity", key}, ""},
	} {
		err := run(ctx, append([]string{"project", "import", "-data-dir", elsewhere}, c.args...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("import %s: %v, want an error saying %q", c.name, err, c.want)
		}
		if n := patientsIn(t, elsewhere, project); n != 0 {
			t.Fatalf("import %s wrote %d Patients", c.name, n)
		}
	}
	if err := run(ctx, []string{"project", "import", "-in", backup, "-identity", key, "-data-dir", elsewhere}); err != nil {
		t.Fatal(err)
	}
	if n := patientsIn(t, elsewhere, project); n != 1 {
		t.Errorf("restored %d Patients, want 1", n)
	}

	// A copy next to the original, on the server that made the backup.
	if err := run(ctx, []string{"project", "import", "-in", backup, "-as-new-project", "-data-dir", origin}); err != nil {
		t.Fatal(err)
	}
	if n := patientsNamed(t, origin, "Backed"); n != 2 {
		t.Errorf("%d Patients after a restore as a new project next to the original, want 2", n)
	}
	if err := run(ctx, []string{"project", "import", "-in", backup, "-project", project, "-data-dir", origin}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a restore over the original: %v, want a refusal", err)
	}

	// Crypto-shredding: the erased project's key is gone from its server.
	s, err := sqlite.Open(ctx, filepath.Join(origin, "ward.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal()), "Project", project, true); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := run(ctx, []string{"project", "import", "-in", backup, "-data-dir", origin}); err == nil || !strings.Contains(err.Error(), "no backup key") {
		t.Errorf("after the erasure the server reads its old backup: %v", err)
	}
	if n := patientsIn(t, origin, project); n != 0 {
		t.Errorf("the erased project came back: %d Patients", n)
	}
}

// patientsNamed counts the Patients of family in every project of the
// SQLite database of dir.
func patientsNamed(t *testing.T, dir, family string) int {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "ward.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.DB().QueryRow(`SELECT COUNT(*) FROM resources WHERE resource_type = 'Patient' AND content LIKE ?`, "%"+family+"%").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
