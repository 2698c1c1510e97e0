#!/usr/bin/env bash
# The server benchmark of docs/benchmarks.md, on one backend:
#   scripts/bench.sh sqlite            # embedded SQLite in $DIR/data
#   scripts/bench.sh postgres URL      # PostgreSQL at URL (its public schema is emptied first!)
# Env: PATIENTS (100000), OBS (10 per patient), DUR (15s per load run), C (32),
#      STEPS ("ingest read search mixed"; the first three need ingest, mixed sets up its own project),
#      MIX (default: read=50,search=30,create=15,update=3,bundle=2), MIX_DUR (30s), MIX_PATIENTS (200,
#      10 Observations each, in 2 clinics), MIX_CLINICIANS (50: percent of the C workers calling as a
#      clinician), REPORT_EVERY (e.g. 60s: throughput and server RSS per interval, for a soak),
#      WARD_BIN (a prebuilt ward binary instead of building the checkout), SERVE_FLAGS (more flags of
#      ward serve, e.g. -audit=false).
set -euo pipefail
backend=${1:?sqlite or postgres}
url=${2:-}
PATIENTS=${PATIENTS:-100000} OBS=${OBS:-10} DUR=${DUR:-15s} C=${C:-32} STEPS=${STEPS:-ingest read search mixed}
MIX=${MIX:-default} MIX_DUR=${MIX_DUR:-30s} MIX_PATIENTS=${MIX_PATIENTS:-200} MIX_CLINICIANS=${MIX_CLINICIANS:-50}
PASSWORD=bench-admin-password-1
step() { [[ " $STEPS " == *" $1 "* ]]; }
DIR=${DIR:-/tmp/ward-bench-$backend}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$DIR" && cd "$DIR"
if [ -n "${WARD_BIN:-}" ]; then cp "$WARD_BIN" "$DIR/ward"; else (cd "$root" && go build -o "$DIR/ward" ./cmd/ward); fi

db=()
if [ "$backend" = postgres ]; then
  psql "$url" -qc 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;'
  db=(-database-url "$url")
else
  rm -rf data
fi
# One project takes the whole server here: the fair shares of issue 15 (by default 60,000 requests a
# minute and half the cores' worth of concurrent searches per project, then 429) would measure the limit.
./ward serve "${db[@]}" -addr 127.0.0.1:8103 -base-url http://127.0.0.1:8103/ -admin-password "$PASSWORD" \
  -project-rate-limit 0 -project-concurrent-expensive 0 ${SERVE_FLAGS:-} >server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:8103/healthcheck >/dev/null 2>&1 && break; sleep 0.2; done
base=http://127.0.0.1:8103/fhir/R4
# The FHIR definitions load in the background after start (≈3,400 writes): measure after them.
for _ in $(seq 600); do grep -q '"definitions: load' server.log && break; sleep 0.5; done

# The ingest, read and search steps act as the admin of a project of their own (self-service sign-up,
# as bench-mso.sh): ward gendata and ward load read the token from WARD_TOKEN.
if step ingest || step read || step search; then
  host=http://127.0.0.1:8103
  email="bench-$(date +%s)@example.com"
  l=$(curl -sf "$host/auth/newuser" -H 'Content-Type: application/json' -d "$(jq -nc --arg p "$PASSWORD" --arg e "$email" \
    '{firstName:"Bench",lastName:"Admin",email:$e,password:$p,codeChallenge:"xyz",codeChallengeMethod:"plain"}')" | jq -r .login)
  code=$(curl -sf "$host/auth/newproject" -H 'Content-Type: application/json' -d "{\"login\":\"$l\",\"projectName\":\"Bench\"}" | jq -r .code)
  WARD_TOKEN=$(curl -sf "$host/oauth2/token" -d grant_type=authorization_code -d code="$code" -d code_verifier=xyz | jq -r .access_token)
  export WARD_TOKEN
fi

if step ingest; then
echo "== ingest: $PATIENTS Patients + $((PATIENTS*OBS)) Observations, transaction bundles of 100"
./ward gendata -url $base -patients "$PATIENTS" -observations "$OBS" -c 4 -seed 42
echo "== ingest: single creates at concurrency 32"
./ward gendata -url $base -patients 2000 -observations 4 -single -c 32 -seed 7
fi

if step read; then
curl -s -H "Authorization: Bearer $WARD_TOKEN" "$base/Patient?_count=1000&_elements=id" | grep -o '"fullUrl":"[^"]*"' | cut -d'"' -f4 >patients.txt
echo "== read by id (1000 random Patients), with a bare net/http handler serving the same bytes"
./ward load -c "$C" -d "$DUR" -urls patients.txt -bare
fi
if step search; then
echo "== token search"
./ward load -c "$C" -d "$DUR" -sql "${db[@]}" "$base/Observation?code=http://loinc.org|8867-4&_count=20"
echo "== date-range search"
./ward load -c "$C" -d "$DUR" -sql "${db[@]}" "$base/Observation?date=ge2020-01-01&date=lt2020-02-01&_count=20"
fi
if step mixed; then
  echo "== mixed profile ($MIX), c=$C ($MIX_CLINICIANS% clinicians), $MIX_DUR, a project of $MIX_PATIENTS Patients x 10 Observations in 2 clinics"
  date -u; uptime; echo "ward: ${WARD_BIN:-built from $(git -C "$root" log -1 --format='commit %h, with any uncommitted changes')}"
  mix=(-mix "$MIX" -c "$C" -mix-patients "$MIX_PATIENTS" -mix-clinicians "$MIX_CLINICIANS" -admin-password "$PASSWORD")
  ./ward load "${mix[@]}" -mix-setup-only http://127.0.0.1:8103
  # A fresh PostgreSQL database has no statistics until autovacuum gets to it; without them the
  # planner takes 20-50x longer over the searches of this project (_sort, _include, family).
  [ "$backend" = postgres ] && psql "$url" -qc 'ANALYZE'
  ./ward load "${mix[@]}" -d "$MIX_DUR" -pid $server ${REPORT_EVERY:+-report-every "$REPORT_EVERY"} http://127.0.0.1:8103 ||
    echo "mixed: requests failed or a clinician saw another clinic (see above)"
  uptime
fi
echo "== peak RSS of the server"
grep VmHWM /proc/$server/status
