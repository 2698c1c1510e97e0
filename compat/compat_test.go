package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store/storetest"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "compat-admin-password"
	// shortTokenLifetime is the access-token lifetime of the second server,
	// long enough to finish a sign-in on a loaded machine, short enough
	// that the refresh scenarios wait only seconds.
	shortTokenLifetime = 10 * time.Second
	suiteTimeout       = 2 * time.Minute
	// appOrigin is the browser origin of a pretend app served elsewhere:
	// both servers allow it cross-origin (CORS), and signin.test.mjs
	// calls Ward from it and from an origin that is not allowed.
	appOrigin = "http://app.compat.test"
)

// TestMedplumClient runs the @medplum/core scenarios (*.test.mjs) against
// a live Ward.
func TestMedplumClient(t *testing.T) {
	node := findNode(t)
	ensureClientInstalled(t)
	mainLogs, shortLogs := &syncBuffer{}, &syncBuffer{}
	mainURL := startWard(t, 0, mainLogs)
	shortURL := startWard(t, shortTokenLifetime, shortLogs)

	// WARD_COMPAT_FILES narrows the run while working on one scenario file.
	pattern := "*.test.mjs"
	if p := os.Getenv("WARD_COMPAT_FILES"); p != "" {
		pattern = p
	}
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s files: %v", pattern, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	args := append(nodeFlags(t, node), "--test", "--test-reporter=spec", "--test-timeout=60000")
	cmd := exec.CommandContext(ctx, node, append(args, files...)...)
	cmd.Env = append(os.Environ(),
		"WARD_BASE_URL="+mainURL,
		"WARD_SHORT_TOKEN_BASE_URL="+shortURL,
		"WARD_ADMIN_EMAIL="+adminEmail,
		"WARD_ADMIN_PASSWORD="+adminPassword,
		"WARD_APP_ORIGIN="+appOrigin,
		"NO_COLOR=1",
	)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("ward log (main server):\n%s", mainLogs.String())
		t.Logf("ward log (short-lived tokens):\n%s", shortLogs.String())
		t.Fatalf("node --test failed (%v; time limit %s):\n%s", err, suiteTimeout, out)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}

// findNode returns node's path, or skips the test when node is missing,
// unless WARD_COMPAT_REQUIRED=1 demands the suite.
func findNode(t *testing.T) string {
	node, err := exec.LookPath("node")
	if err == nil {
		return node
	}
	if os.Getenv("WARD_COMPAT_REQUIRED") == "1" {
		t.Fatalf("WARD_COMPAT_REQUIRED=1 but node is not on PATH: %v", err)
	}
	t.Skipf("node is not on PATH; the @medplum/core compatibility suite needs Node >= 20 (set WARD_COMPAT_REQUIRED=1 to fail instead)")
	return ""
}

// ensureClientInstalled runs `npm ci` when node_modules does not hold the
// @medplum/core version package.json pins.
func ensureClientInstalled(t *testing.T) {
	want := pinnedVersion(t, "package.json")
	if installedVersion("node_modules/@medplum/core/package.json") == want {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("node_modules is missing and npm is not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	if got := installedVersion("node_modules/@medplum/core/package.json"); got != want {
		t.Fatalf("after npm ci, @medplum/core is %q, package.json pins %q", got, want)
	}
}

func pinnedVersion(t *testing.T, path string) string {
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &pkg)
	}
	if err != nil || pkg.Dependencies["@medplum/core"] == "" {
		t.Fatalf("%s does not pin @medplum/core: %v", path, err)
	}
	return pkg.Dependencies["@medplum/core"]
}

func installedVersion(path string) string {
	var pkg struct {
		Version string `json:"version"`
	}
	data, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(data, &pkg) != nil {
		return ""
	}
	return pkg.Version
}

// nodeFlags enables the WebSocket global on Node 20 and 21: @medplum/core 5
// reads WebSocket constants when it is imported (Node 22 has them built in).
func nodeFlags(t *testing.T, node string) []string {
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("node --version: %v", err)
	}
	m := regexp.MustCompile(`^v(\d+)\.`).FindSubmatch(bytes.TrimSpace(out))
	if m == nil {
		t.Fatalf("node --version printed %q", out)
	}
	major, _ := strconv.Atoi(string(m[1]))
	switch {
	case major < 20:
		t.Fatalf("node %s is too old: the @medplum/core suite needs Node >= 20", bytes.TrimSpace(out))
	case major < 22:
		return []string{"--experimental-websocket"}
	}
	return nil
}

// startWard serves Ward as `ward serve` assembles it, over a fresh SQLite
// store, on a 127.0.0.1 listener, and returns its base URL (the token
// issuer). accessTokenLifetime 0 keeps the default hour.
func startWard(t *testing.T, accessTokenLifetime time.Duration, logs *syncBuffer) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	baseURL := "http://" + srv.Listener.Addr().String() + "/"
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st := storetest.OpenSQLite(t)
	svc := auth.New(st, auth.Config{
		BaseURL:             baseURL,
		AdminPassword:       adminPassword,
		BcryptCost:          bcrypt.MinCost,
		AccessTokenLifetime: accessTokenLifetime,
		Logger:              logger,
	})
	if err := svc.Seed(context.Background()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	srv.Config.Handler = wire.Handler(st, wire.Config{BaseURL: baseURL, Auth: svc, AllowedOrigins: []string{appOrigin}}, logger)
	srv.Start()
	t.Cleanup(srv.Close)
	return baseURL
}

// syncBuffer collects the servers' logs, shown only when the suite fails.
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
