package console_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardhealth/ward/internal/nodetest"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

const (
	chromiumPath  = "/usr/bin/chromium"
	adminPassword = "console-e2e-admin-password"
	suiteTimeout  = 4 * time.Minute
	// requiredEnv=1 (CI) turns a missing node or chromium into a failure.
	requiredEnv = "WARD_BROWSER_REQUIRED"
)

// TestConsoleInBrowser drives the console in Debian's headless chromium
// (e2e/*.test.mjs through playwright-core) against a Ward served as `ward
// serve` assembles it, on SQLite and (with WARD_TEST_POSTGRES_URL) on
// PostgreSQL. Without chromium or node it skips, unless
// WARD_BROWSER_REQUIRED=1 (CI), which makes it fail instead.
func TestConsoleInBrowser(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) { runBrowserSuite(t, st) })
}

func runBrowserSuite(t *testing.T, st *store.Store) {
	if testing.Short() {
		t.Skip("browser suite skipped in -short mode")
	}
	node := nodetest.FindNode(t, requiredEnv)
	nodetest.FindTool(t, chromiumPath, requiredEnv, "apt-get install chromium nodejs npm")
	dir, err := filepath.Abs("e2e")
	if err != nil {
		t.Fatal(err)
	}
	nodetest.EnsureInstalled(t, dir, "playwright-core")
	artifacts := os.Getenv("WARD_ARTIFACTS_DIR")
	if artifacts == "" {
		artifacts = filepath.Join(dir, "artifacts")
	}
	artifacts = filepath.Join(artifacts, filepath.Base(t.Name())) // one folder per engine
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	// The console's pages read the base R4 definitions, as `ward serve` loads them.
	baseURL, logs := nodetest.StartWard(t, nodetest.Options{AdminPassword: adminPassword, LoadDefinitions: true, Store: st})

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
