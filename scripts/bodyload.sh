#!/usr/bin/env bash
# The large-body memory run of docs/benchmarks.md ("Hardening (issue 10)"):
# a fresh SQLite server, then `ward load -bodies` POSTs N bodies of 5-17 MB
# (valid, malformed and invalid JSON) from C workers and reports the
# server's resident memory before, at peak and settled.
#   scripts/bodyload.sh                 # the server built from this tree
#   scripts/bodyload.sh /path/to/ward   # another server binary (e.g. an older commit's)
# Env: N (200 bodies), C (32 workers), DIR (/tmp/ward-bodyload), and any
# WARD_* setting for the server (e.g. WARD_MEMORY_LIMIT=off).
set -euo pipefail
N=${N:-200} C=${C:-32}
DIR=${DIR:-/tmp/ward-bodyload}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$DIR" && cd "$DIR"
(cd "$root" && go build -o "$DIR/ward" ./cmd/ward)
server=${1:-$DIR/ward}
rm -rf data
WARD_ADMIN_PASSWORD=bodyload-admin-password WARD_DEFINITIONS=false \
  "$server" serve -addr 127.0.0.1:8113 -base-url http://127.0.0.1:8113/ -log-level warn >server.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:8113/healthcheck >/dev/null && break; sleep 0.2; done
code=$(curl -s http://127.0.0.1:8113/auth/login -H 'Content-Type: application/json' \
  -d '{"email":"admin@example.com","password":"bodyload-admin-password","scope":"openid","codeChallenge":"xyz","codeChallengeMethod":"plain"}' \
  | sed 's/.*"code":"\([^"]*\)".*/\1/')
token=$(curl -s http://127.0.0.1:8113/oauth2/token -d grant_type=authorization_code -d code="$code" -d code_verifier=xyz \
  | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
./ward load -bodies "$N" -c "$C" -token "$token" -pid "$pid" http://127.0.0.1:8113/
