package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardhealth/ward"
)

// TestHelperBackup is not a test: TestBackupCommand runs the test binary
// again with WARD_HELPER_BACKUP_ARGS set, and this runs `ward backup` with
// those arguments in that child process.
func TestHelperBackup(t *testing.T) {
	raw := os.Getenv("WARD_HELPER_BACKUP_ARGS")
	if raw == "" {
		t.Skip("runs only as TestBackupCommand's backup process")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), args); err != nil {
		t.Fatal(err)
	}
}

// TestBackupCommand: `ward backup -out FILE`, in a process of its own, copies
// the database a server process (here, this one) is writing to; the copy
// passes integrity_check and holds every create acknowledged before the
// backup started.
func TestBackupCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := dbConfig{dataDir: dir, sqliteSync: "FULL"}
	s, err := db.open(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pctx := ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: "backup", Author: "Practitioner/backup"})
	create := func() (string, error) {
		var id string
		err := s.Write(pctx, func(ctx context.Context, tx ward.ResourceTx) error {
			res, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient","name":[{"family":"Copied"}]}`))
			if err == nil {
				id = res.ID
			}
			return err
		})
		return id, err
	}
	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		done  = make(chan error, 1)
	)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			id, err := create()
			if err != nil {
				done <- err
				return
			}
			mu.Lock()
			acked = append(acked, id)
			mu.Unlock()
		}
	}()
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 100 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()

	out := filepath.Join(t.TempDir(), "ward-backup.db")
	args, _ := json.Marshal([]string{"backup", "-data-dir", dir, "-out", out})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBackup$")
	cmd.Env = append(os.Environ(), "WARD_HELPER_BACKUP_ARGS="+string(args))
	output, err := cmd.CombinedOutput()
	close(stop)
	if werr := <-done; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatalf("ward backup: %v\n%s", err, output)
	}
	mu.Lock()
	total := len(acked)
	mu.Unlock()
	t.Logf("%d creates acknowledged before the backup, %d in all", len(before), total)

	copyDB, err := sql.Open("sqlite", "file:"+out+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	var check string
	if err := copyDB.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check of the copy: %q %v", check, err)
	}
	for _, id := range before {
		var n int
		if err := copyDB.QueryRow("SELECT count(*) FROM resources WHERE resource_type = 'Patient' AND id = ?", id).Scan(&n); err != nil || n != 1 {
			t.Errorf("Patient/%s, acknowledged before the backup, is not in the copy (%d rows, %v)", id, n, err)
		}
	}

	// Run again onto the same file: refused, the copy untouched.
	fi, _ := os.Stat(out)
	err = run(ctx, []string{"backup", "-data-dir", dir, "-out", out})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second backup onto %s: err = %v, want 'already exists'", out, err)
	}
	if fi2, _ := os.Stat(out); fi2.Size() != fi.Size() || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Error("the existing copy changed")
	}
}

// TestBackupCommandErrors: no -out, a PostgreSQL URL (PostgreSQL's own
// tools back it up), a missing output directory and a missing database are
// each a clear error.
func TestBackupCommandErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "-data-dir", dir}, "-out FILE is required"},
		{[]string{"backup", "-database-url", "postgres://localhost/ward", "-out", filepath.Join(dir, "x")}, "pg_basebackup"},
		{[]string{"backup", "-data-dir", dir, "-out", filepath.Join(dir, "x")}, "ward.db"},
	} {
		err := run(ctx, tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ward.db")); err == nil {
		t.Error("backup created a database")
	}
	db := dbConfig{dataDir: dir, sqliteSync: "OFF"}
	s, err := db.open(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	err = run(ctx, []string{"backup", "-data-dir", dir, "-out", filepath.Join(dir, "missing", "x.db")})
	if err == nil || !strings.Contains(err.Error(), "output directory") {
		t.Errorf("backup into a missing directory: err = %v", err)
	}
}
