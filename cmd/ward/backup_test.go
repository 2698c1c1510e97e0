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

// TestPostgresPITR rehearses README "Backup" for PostgreSQL on a cluster
// of its own: WAL archiving on, a base backup with pg_basebackup, Ward
// writes (signing keys from `ward rotate-key`) before and after a target
// time, then a restore of the base backup replaying the archive up to that
// time holds exactly the writes before it. It runs only when
// WARD_TEST_PITR=1 and PostgreSQL's server tools are installed (pg_config
// --bindir, or WARD_TEST_PG_BINDIR); as root it runs them as "postgres".
func TestPostgresPITR(t *testing.T) {
	if os.Getenv("WARD_TEST_PITR") != "1" {
		t.Skip("set WARD_TEST_PITR=1 to rehearse a PostgreSQL point-in-time restore")
	}
	bindir := os.Getenv("WARD_TEST_PG_BINDIR")
	if bindir == "" {
		out, err := exec.Command("pg_config", "--bindir").Output()
		if err != nil {
			t.Skip("pg_config not found; set WARD_TEST_PG_BINDIR")
		}
		bindir = strings.TrimSpace(string(out))
	}
	for _, tool := range []string{"initdb", "pg_ctl", "pg_basebackup", "psql"} {
		if _, err := os.Stat(filepath.Join(bindir, tool)); err != nil {
			t.Skipf("%s not in %s", tool, bindir)
		}
	}
	root, err := os.MkdirTemp("", "ward-pitr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	pgCmd := func(args ...string) *exec.Cmd {
		name := filepath.Join(bindir, args[0])
		if os.Geteuid() == 0 { // initdb and postgres refuse to run as root
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args[1:]...)...)
		}
		return exec.Command(name, args[1:]...)
	}
	pg := func(args ...string) string {
		t.Helper()
		out, err := pgCmd(args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	archive, primary, base, restored := filepath.Join(root, "archive"), filepath.Join(root, "primary"), filepath.Join(root, "base"), filepath.Join(root, "restored")
	if err := os.Mkdir(archive, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "-R", "postgres", root).CombinedOutput(); err != nil {
			t.Skipf("no postgres user to run the server as: %v %s", err, out)
		}
	}
	port := func() string { _, p, _ := strings.Cut(freeAddr(t), ":"); return p }
	appendConf := func(dir, conf string) {
		f, err := os.OpenFile(filepath.Join(dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(conf); err != nil {
			t.Fatal(err)
		}
	}

	pg("initdb", "-D", primary, "-U", "postgres", "-A", "trust")
	primaryPort := port()
	appendConf(primary, "\nport = "+primaryPort+"\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '"+root+"'\n"+
		"wal_level = replica\narchive_mode = on\narchive_command = 'test ! -f "+archive+"/%f && cp %p "+archive+"/%f'\n")
	pg("pg_ctl", "-D", primary, "-l", filepath.Join(root, "primary.log"), "-w", "start")
	t.Cleanup(func() { pgCmd("pg_ctl", "-D", primary, "-m", "immediate", "stop").Run() })
	primaryURL := "postgres://postgres@127.0.0.1:" + primaryPort + "/postgres"
	psql := func(port, query string) string {
		return pg("psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-At", "-c", query)
	}
	keys := func(port string) string {
		return psql(port, "SELECT count(*) FROM resources WHERE resource_type = 'JsonWebKey'")
	}
	ctx := context.Background()
	rotate := func() {
		t.Helper()
		if err := run(ctx, []string{"rotate-key", "-database-url", primaryURL}); err != nil {
			t.Fatal(err)
		}
	}

	rotate() // migrates the schema, writes key 1
	pg("pg_basebackup", "-h", "127.0.0.1", "-p", primaryPort, "-U", "postgres", "-D", base, "-X", "stream", "-c", "fast")
	rotate()
	rotate() // keys 2 and 3: after the base backup, before the target
	target := psql(primaryPort, "SELECT now()")
	time.Sleep(100 * time.Millisecond)
	rotate() // key 4: the mistake to undo
	if got := keys(primaryPort); got != "4" {
		t.Fatalf("primary has %s keys, want 4", got)
	}
	psql(primaryPort, "SELECT pg_switch_wal()") // archive the last segment
	pg("pg_ctl", "-D", primary, "-w", "stop")

	if out, err := exec.Command("cp", "-a", base, restored).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	restoredPort := port()
	appendConf(restored, "\nport = "+restoredPort+"\nrestore_command = 'cp "+archive+"/%f %p'\n"+
		"recovery_target_time = '"+target+"'\nrecovery_target_action = 'promote'\n")
	if err := os.WriteFile(filepath.Join(restored, "recovery.signal"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		exec.Command("chown", "postgres", filepath.Join(restored, "recovery.signal")).Run()
	}
	pg("pg_ctl", "-D", restored, "-l", filepath.Join(root, "restored.log"), "-w", "start")
	t.Cleanup(func() { pgCmd("pg_ctl", "-D", restored, "-m", "immediate", "stop").Run() })
	// Recovery ends (and the server is promoted) once the target is reached.
	deadline := time.Now().Add(30 * time.Second)
	for psql(restoredPort, "SELECT pg_is_in_recovery()") != "f" {
		if time.Now().After(deadline) {
			t.Fatal("the restored server is still in recovery after 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := keys(restoredPort); got != "3" {
		t.Errorf("restored to %s: %s keys, want the 3 written before it", target, got)
	}
}
