package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/sqlite"
)

func asProject(project string) context.Context {
	return ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Author: "Practitioner/" + project})
}

func createPatient(ctx context.Context, s *store.Store) (string, error) {
	var id string
	err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		res, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient","name":[{"family":"Backup","given":["Under","Load"]}],"gender":"female","birthDate":"1970-01-01"}`))
		if err != nil {
			return err
		}
		id = res.ID
		return nil
	})
	return id, err
}

// openCopy opens a backup with plain database/sql, checks its integrity
// and returns the ids of its Patients.
func openCopy(t *testing.T, path string) map[string]bool {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil {
		t.Fatal(err)
	}
	if check != "ok" {
		t.Fatalf("integrity_check of the copy: %s", check)
	}
	rows, err := db.Query("SELECT id FROM resources WHERE resource_type = 'Patient'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestBackupUnderWrites: writers go on creating Patients through the store
// while Backup copies the database; the copy passes integrity_check, holds
// every write acknowledged before the backup began and none acknowledged
// after it returned, and opens as a Ward store.
func TestBackupUnderWrites(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "ward.db")
	s, err := sqlite.Open(context.Background(), dbPath, sqlite.Options{Synchronous: "FULL"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := asProject("backup")
	// Enough rows that the copy takes a while (writes land during it).
	err = s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		for range 3000 {
			if _, err := tx.Create(ctx, "Observation", []byte(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"valueQuantity":{"value":72,"unit":"/min"}}`)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		done  = make(chan error, 4)
	)
	const writers = 4
	for range writers {
		go func() {
			for {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				id, err := createPatient(ctx, s)
				if err != nil {
					done <- err
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
	}
	// Let some writes through before the backup.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 50 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()

	out := filepath.Join(dir, "copy.db")
	if err := sqlite.Backup(context.Background(), dbPath, out); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	after := len(acked)
	mu.Unlock()
	// Writes acknowledged after Backup returned are not in the copy.
	for range 20 {
		if _, err := createPatient(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	late := append([]string(nil), acked[after:]...)
	mu.Unlock()
	close(stop)
	for range writers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	total := len(acked)
	mu.Unlock()
	t.Logf("acknowledged: %d before the backup, %d during it, %d in all", len(before), after-len(before), total)

	if _, err := os.Stat(out + ".tmp"); err == nil {
		t.Errorf("%s.tmp left behind", out)
	}
	ids := openCopy(t, out)
	for _, id := range before {
		if !ids[id] {
			t.Errorf("Patient/%s, acknowledged before the backup, is missing from the copy", id)
		}
	}
	for _, id := range late {
		if ids[id] {
			t.Errorf("Patient/%s, acknowledged after the backup, is in the copy", id)
		}
	}
	if len(ids) < len(before) || len(ids) > after {
		t.Errorf("copy has %d Patients; want between %d and %d", len(ids), len(before), after)
	}

	// The copy opens as a store and serves reads.
	c, err := sqlite.Open(context.Background(), out, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Read(ctx, "Patient", before[0]); err != nil {
		t.Errorf("reading Patient/%s from the copy: %v", before[0], err)
	}
}

// TestBackupClosedDatabase: a database no server has open (no -wal file)
// backs up, and the backup does not create or change the source files.
func TestBackupClosedDatabase(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "ward.db")
	s, err := sqlite.Open(context.Background(), dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := createPatient(asProject("p"), s)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	before, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "copy.db")
	if err := sqlite.Backup(context.Background(), dbPath, out); err != nil {
		t.Fatal(err)
	}
	if !openCopy(t, out)[id] {
		t.Errorf("Patient/%s missing from the copy", id)
	}
	after, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the backup changed the source database")
	}

	// A missing database is an error, not a new empty database.
	missing := filepath.Join(dir, "none.db")
	if err := sqlite.Backup(context.Background(), missing, filepath.Join(dir, "x.db")); err == nil {
		t.Error("backup of a missing database succeeded")
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("backup created the missing database")
	}
}

// TestBackupRefuses: an existing target (or leftover .tmp) is an error
// and stays untouched; a missing output directory is a clear error; an
// output name with quotes is a file name, not SQL.
func TestBackupRefuses(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "ward.db")
	s, err := sqlite.Open(context.Background(), dbPath, sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = sqlite.Backup(context.Background(), dbPath, existing)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("backup onto an existing file: err = %v, want 'already exists'", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("existing file changed: %q", b)
	}
	if _, err := os.Stat(existing + ".tmp"); err == nil {
		t.Error("a .tmp file was left")
	}

	leftover := filepath.Join(dir, "leftover.db")
	if err := os.WriteFile(leftover+".tmp", []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = sqlite.Backup(context.Background(), dbPath, leftover)
	if err == nil || !strings.Contains(err.Error(), ".tmp exists") {
		t.Errorf("backup with a leftover .tmp: err = %v", err)
	}
	if b, _ := os.ReadFile(leftover + ".tmp"); string(b) != "partial" {
		t.Errorf("leftover .tmp changed: %q", b)
	}

	err = sqlite.Backup(context.Background(), dbPath, filepath.Join(dir, "no", "such", "dir", "copy.db"))
	if err == nil || !strings.Contains(err.Error(), "output directory") {
		t.Errorf("backup into a missing directory: err = %v, want an output directory error", err)
	}
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)
	err = sqlite.Backup(context.Background(), dbPath, filepath.Join(notDir, "copy.db"))
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("backup under a file: err = %v, want 'not a directory'", err)
	}

	quoted := filepath.Join(dir, "it's'; DROP TABLE resources; --.db")
	if err := sqlite.Backup(context.Background(), dbPath, quoted); err != nil {
		t.Fatalf("backup to a name with quotes: %v", err)
	}
	openCopy(t, quoted)
	if _, err := s.Read(asProject("p"), "Patient", "none"); err == nil || strings.Contains(err.Error(), "no such table") {
		t.Errorf("source database damaged: %v", err)
	}
}
