// Package compat holds Ward's compatibility suite: Medplum's own client
// library, @medplum/core from npm (pinned in package-lock.json), run by
// Node's test runner against a live Ward. It is the acceptance test of
// issue 3: a Medplum application must sign in and work against Ward with no
// change.
//
// compat_test.go starts Ward in-process exactly as `ward serve` assembles it
// (internal/wire over an auth.Service on a SQLite store, seeded with a known
// admin password) on a real 127.0.0.1 listener, then runs
// `node --test *.test.mjs` with WARD_BASE_URL, WARD_ADMIN_EMAIL and
// WARD_ADMIN_PASSWORD. A second server whose access tokens live seconds
// (WARD_SHORT_TOKEN_BASE_URL) serves the refresh scenarios.
//
// The suite is skipped when node is not on PATH, unless
// WARD_COMPAT_REQUIRED=1 (set by .ci/run), which turns a missing node into a
// failure. The first run installs the client with `npm ci` (network needed
// once; node_modules is not committed).
//
// WARD_COMPAT_FILES=session.test.mjs runs one scenario file;
// WARD_COMPAT_TRACE=1 prints every HTTP exchange of every client. A failing
// run prints node's output and both servers' logs.
//
// Run only the JavaScript side against a server you started yourself:
//
//	cd compat && npm ci
//	WARD_BASE_URL=http://localhost:8103/ WARD_ADMIN_EMAIL=admin@example.com \
//	  WARD_ADMIN_PASSWORD=... node --experimental-websocket --test *.test.mjs
//
// (--experimental-websocket only on Node 20: @medplum/core 5 expects the
// WebSocket global that Node 22 has by default.)
//
// This package owns no production code and must not: it only observes
// Ward over HTTP. A scenario that fails because of a server bug is fixed in
// the server, never by bending the scenario.
package compat
