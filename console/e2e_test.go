package console_test

import (
	"os"
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
	// The console's pages read the base R4 definitions, as `ward serve` loads them;
	// every FHIR access is audited (the Audit page and Access history tab).
	baseURL, logs := nodetest.StartWard(t, nodetest.Options{AdminPassword: adminPassword, LoadDefinitions: true, Store: st, Audit: true})

	files, _ := filepath.Glob(filepath.Join(dir, "*.test.mjs"))
	if len(files) == 0 {
		t.Fatalf("no e2e/*.test.mjs")
	}
	t.Logf("screenshots in %s", artifacts)
	nodetest.RunSuite(t, node, dir, suiteTimeout, append([]string{"--test-concurrency=1"}, files...), []string{
		"WARD_BASE_URL=" + baseURL,
		"WARD_ARTIFACTS_DIR=" + artifacts,
		"WARD_CHROMIUM=" + chromiumPath,
	}, map[string]*nodetest.SyncBuffer{"console": logs})
}
