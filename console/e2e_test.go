package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/fhir/definitions"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store/storetest"
)

const (
	chromiumPath  = "/usr/bin/chromium"
	adminPassword = "console-e2e-admin-password"
	suiteTimeout  = 4 * time.Minute
)

// TestConsoleInBrowser drives the console in Debian's headless chromium
// (e2e/*.test.mjs through playwright-core) against a Ward served as `ward
// serve` assembles it. Without chromium or node it skips, unless
// WARD_BROWSER_REQUIRED=1 (CI), which makes it fail instead.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser suite skipped in -short mode")
	}
	node := requireTool(t, "node")
	requireTool(t, chromiumPath)
	dir, err := filepath.Abs("e2e")
	if err != nil {
		t.Fatal(err)
	}
	ensureInstalled(t, dir)
	artifacts := os.Getenv("WARD_ARTIFACTS_DIR")
	if artifacts == "" {
		artifacts = filepath.Join(dir, "artifacts")
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	baseURL := startWard(t, logs)

	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	files, _ := filepath.Glob(filepath.Join(dir, "*.test.mjs"))
	if len(files) == 0 {
		t.Fatalf("no e2e/*.test.mjs")
	}
	args := append([]string{"--test", "--test-reporter=spec", "--test-concurrency=1"}, files...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"WARD_BASE_URL="+baseURL,
		"WARD_ARTIFACTS_DIR="+artifacts,
		"WARD_CHROMIUM="+chromiumPath,
		"NO_COLOR=1",
	)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("ward log:\n%s", logs.String())
		t.Fatalf("node --test failed (%v; time limit %s; screenshots in %s):\n%s", err, suiteTimeout, artifacts, out)
	}
	t.Logf("screenshots in %s", artifacts)
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}

// requireTool returns the path of a program, or skips (fails when
// WARD_BROWSER_REQUIRED=1) when it is missing.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("WARD_BROWSER_REQUIRED") == "1" {
		t.Fatalf("WARD_BROWSER_REQUIRED=1 but %s is missing: %v", name, err)
	}
	t.Skipf("%s is missing (apt-get install chromium nodejs npm); set WARD_BROWSER_REQUIRED=1 to fail instead", name)
	return ""
}

// ensureInstalled runs `npm ci` in dir when playwright-core is not the
// version package.json pins.
func ensureInstalled(t *testing.T, dir string) {
	t.Helper()
	var pkg struct {
		Version      string            `json:"version"`
		Dependencies map[string]string `json:"dependencies"`
	}
	read := func(path string) {
		pkg.Version = ""
		if data, err := os.ReadFile(path); err == nil {
			_ = json.Unmarshal(data, &pkg)
		}
	}
	read(filepath.Join(dir, "package.json"))
	want := pkg.Dependencies["playwright-core"]
	read(filepath.Join(dir, "node_modules", "playwright-core", "package.json"))
	if want != "" && pkg.Version == want {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
}

// startWard serves Ward as `ward serve` does (identity, the base R4
// definitions, the console) over a fresh SQLite store on 127.0.0.1.
func startWard(t *testing.T, logs *syncBuffer) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	baseURL := "http://" + srv.Listener.Addr().String() + "/"
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	if err := definitions.Load(ctx, st, logger); err != nil {
		t.Fatalf("definitions.Load: %v", err)
	}
	svc := auth.New(st, auth.Config{BaseURL: baseURL, AdminPassword: adminPassword, BcryptCost: bcrypt.MinCost, Logger: logger})
	if err := svc.Seed(ctx); err != nil {
		t.Fatalf("seed: %v", err)
	}
	srv.Config.Handler = wire.Handler(st, wire.Config{BaseURL: baseURL, Auth: svc}, logger)
	srv.Start()
	t.Cleanup(srv.Close)
	return baseURL
}

// syncBuffer collects the server's log, shown only when the suite fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
