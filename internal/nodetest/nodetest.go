// Package nodetest is the test support the Node-driven suites share (compat's
// @medplum/core scenarios and the console's browser suite): finding node and
// other programs, keeping a suite's npm package at the version its
// package.json pins, and serving Ward in-process, as `ward serve` assembles
// it, on a 127.0.0.1 listener with its log kept for a failure report.
//
// It is for tests only: it calls t.Fatal and t.Skip, seeds a known admin
// password and uses the cheapest bcrypt cost. Each suite keeps its own knobs
// (its required-env name, token lifetime, allowed origins, definitions).
package nodetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/blob"
	"github.com/wardhealth/ward/fhir/definitions"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/internal/egress"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/mock"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
	"github.com/wardhealth/ward/subscription"
)

// installTimeout bounds one `npm ci`.
const installTimeout = 2 * time.Minute

// FindTool returns the path of a program (a name on PATH or a path), or skips
// the test when it is missing, unless the environment variable requiredEnv
// is "1" (CI), which makes it fail instead. hint says how to get it.
func FindTool(t testing.TB, name, requiredEnv, hint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv(requiredEnv) == "1" {
		t.Fatalf("%s=1 but %s is missing: %v", requiredEnv, name, err)
	}
	t.Skipf("%s is missing (%s); set %s=1 to fail instead", name, hint, requiredEnv)
	return ""
}

// FindNode returns node's path, as FindTool does.
func FindNode(t testing.TB, requiredEnv string) string {
	t.Helper()
	return FindTool(t, "node", requiredEnv, "the Node suites need Node >= 20")
}

// NodeFlags enables the WebSocket global on Node 20 and 21: @medplum/core 5
// reads WebSocket constants when it is imported (Node 22 has them built in).
// Older Node fails the test.
func NodeFlags(t testing.TB, node string) []string {
	t.Helper()
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
		t.Fatalf("node %s is too old: the Node suites need Node >= 20", bytes.TrimSpace(out))
	case major < 22:
		return []string{"--experimental-websocket"}
	}
	return nil
}

// EnsureInstalled runs `npm ci` in dir when dir/node_modules does not hold
// the version of pkg that dir/package.json pins, and fails the test when it
// still does not afterwards: a stale node_modules would test another client.
func EnsureInstalled(t testing.TB, dir, pkg string) {
	t.Helper()
	want := pinnedVersion(t, dir, pkg)
	installed := filepath.Join(dir, "node_modules", pkg, "package.json")
	if installedVersion(installed) == want {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("%s is not installed in %s and npm is not on PATH: %v", pkg, dir, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if got := installedVersion(installed); got != want {
		t.Fatalf("after npm ci in %s, %s is %q, package.json pins %q", dir, pkg, got, want)
	}
}

func pinnedVersion(t testing.TB, dir, pkg string) string {
	t.Helper()
	path := filepath.Join(dir, "package.json")
	var manifest struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &manifest)
	}
	if err != nil || manifest.Dependencies[pkg] == "" {
		t.Fatalf("%s does not pin %s: %v", path, pkg, err)
	}
	return manifest.Dependencies[pkg]
}

func installedVersion(path string) string {
	var manifest struct {
		Version string `json:"version"`
	}
	data, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(data, &manifest) != nil {
		return ""
	}
	return manifest.Version
}

// Options are one suite's knobs for StartWard.
type Options struct {
	// AdminPassword is seeded for the admin account.
	AdminPassword string
	// AccessTokenLifetime 0 keeps the default hour.
	AccessTokenLifetime time.Duration
	// AllowedOrigins are the browser origins allowed cross-origin (CORS).
	AllowedOrigins []string
	// LoadDefinitions loads the base R4 definitions, as `ward serve` does;
	// suites that never touch them skip the cost.
	LoadDefinitions bool
	// Store is the database to serve; nil: a fresh SQLite store.
	Store *store.Store
	// Audit records every FHIR access in the store's audit trail (the
	// console's Audit page reads it); off by default.
	Audit bool
	// Subscriptions runs the rest-hook Subscription dispatcher and the
	// WebSocket subscriptions, as ward serve does by default; off by
	// default.
	Subscriptions bool
}

// StartWard serves Ward as `ward serve` assembles it (identity over
// opts.Store or a fresh SQLite store, seeded with opts.AdminPassword) on a 127.0.0.1 listener
// closed when the test ends. It returns the base URL (the token issuer) and
// the server's log, to show when the suite fails.
func StartWard(t testing.TB, opts Options) (string, *SyncBuffer) {
	t.Helper()
	logs := &SyncBuffer{}
	srv := httptest.NewUnstartedServer(nil)
	baseURL := "http://" + srv.Listener.Addr().String() + "/"
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st := opts.Store
	if st == nil {
		st = storetest.OpenSQLite(t)
	}
	st.SetHookEndpoints(egress.Policy{AllowPrivate: true}) // the suites' hooks listen on 127.0.0.1
	ctx := context.Background()
	if opts.LoadDefinitions {
		if err := definitions.Load(ctx, st, logger); err != nil {
			t.Fatalf("definitions.Load: %v", err)
		}
	}
	svc := auth.New(st, auth.Config{
		BaseURL:             baseURL,
		AdminPassword:       opts.AdminPassword,
		BcryptCost:          bcrypt.MinCost,
		AccessTokenLifetime: opts.AccessTokenLifetime,
		Logger:              logger,
	})
	if err := svc.Seed(ctx); err != nil {
		t.Fatalf("seed: %v", err)
	}
	blobs, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Binary content on the data directory's store, as ward serve's default.
	binary := &wardhttp.BinaryOptions{Blobs: blobs, URLSecret: []byte(rand.Text())}
	cfg := wire.Config{BaseURL: baseURL, Auth: svc, AllowedOrigins: opts.AllowedOrigins, Binary: binary}
	if opts.Audit {
		audit := st.NewAuditLog(store.AuditOptions{})
		t.Cleanup(audit.Close) // after srv.Close: cleanups run last first
		cfg.Audit = audit
	}
	if opts.Subscriptions {
		startSubscriptions(t, st, svc, cfg.Audit, logger)
		cfg.Routes, cfg.Operations = startWebSockets(t, st, svc, baseURL, logger)
	}
	srv.Config.Handler = wire.Handler(st, cfg, logger)
	srv.Start()
	t.Cleanup(srv.Close)
	return baseURL, logs
}

// SyncBuffer collects a server's log from its goroutines.
type SyncBuffer = mock.SyncBuffer

// RunSuite runs `node --test` (args after --test) in dir with env added
// to the environment, within timeout. A failure logs each named server log, then fails the test with the
// output; verbose runs show the output of a passing suite too.
func RunSuite(t *testing.T, node, dir string, timeout time.Duration, args, env []string, logs map[string]*SyncBuffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-reporter=spec"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "NO_COLOR=1")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		for name, l := range logs {
			t.Logf("ward log (%s):\n%s", name, l.String())
		}
		t.Fatalf("node --test failed (%v; time limit %s):\n%s", err, timeout, out)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}

// startSubscriptions runs a Subscription dispatcher over st until the test
// ends, polling every 10ms.
func startSubscriptions(t testing.TB, st *store.Store, svc *auth.Service, audit ward.AuditLog, logger *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	d := &subscription.Dispatcher{Store: st, AllowPrivateEndpoints: true, Principals: svc, Audit: audit, Poll: 10 * time.Millisecond, RetryBase: 100 * time.Millisecond, Logger: logger}
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}
