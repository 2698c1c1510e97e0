package compat

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardhealth/ward/internal/nodetest"
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
	node := nodetest.FindNode(t, "WARD_COMPAT_REQUIRED")
	nodetest.EnsureInstalled(t, ".", "@medplum/core")
	// The main server keeps the audit trail and delivers Subscriptions, as
	// ward serve does by default.
	opts := nodetest.Options{AdminPassword: adminPassword, AllowedOrigins: []string{appOrigin}, Audit: true, Subscriptions: true}
	mainURL, mainLogs := nodetest.StartWard(t, opts)
	opts.AccessTokenLifetime = shortTokenLifetime
	shortURL, shortLogs := nodetest.StartWard(t, opts)

	// WARD_COMPAT_FILES narrows the run while working on one scenario file.
	pattern := "*.test.mjs"
	if p := os.Getenv("WARD_COMPAT_FILES"); p != "" {
		pattern = p
	}
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s files: %v", pattern, err)
	}
	args := append(nodetest.NodeFlags(t, node), "--test-timeout=60000")
	nodetest.RunSuite(t, node, "", suiteTimeout, append(args, files...), []string{
		"WARD_BASE_URL=" + mainURL,
		"WARD_SHORT_TOKEN_BASE_URL=" + shortURL,
		"WARD_ADMIN_EMAIL=" + adminEmail,
		"WARD_ADMIN_PASSWORD=" + adminPassword,
		"WARD_APP_ORIGIN=" + appOrigin,
	}, map[string]*nodetest.SyncBuffer{"main server": mainLogs, "short-lived tokens": shortLogs})
}
