#!/usr/bin/env bash
# The organization-walls benchmark of docs/benchmarks.md (issue 4), on one backend:
#   scripts/bench-mso.sh sqlite                                   # embedded SQLite in $DIR/data
#   scripts/bench-mso.sh postgres 'postgres://postgres@127.0.0.1:5432/ward_mso?sslmode=disable'
#     (that database is DROPPED and created again: give it a database of its own, never a shared one)
# It loads an MSO project (CLINICS clinic Organizations, PATIENTS Patients each enrolled in one
# clinic through meta.accounts, OBS Observations per Patient with the same accounts), uploads the
# MSO access policy of spec 5.12, invites a clinician into 1 clinic and one into 50, logs everyone in
# with real passwords and compares, with `ward load -vs-token`, each clinician's searches and reads
# against the project admin's in alternating rounds.
# Env: PATIENTS (100000), OBS (10), CLINICS (100), LOAD_LIMIT (20m, the load stops there),
#      DUR (8s per round), ROUNDS (2), C (32), PORT (8103), STEPS ("load measure"), DIR,
#      C50_C (2) and C50_DUR (20s): concurrency and round length of the 50-clinic comparisons, whose
#      requests can outlast a short round at C,
#      WARD_BIN (a prebuilt ward binary instead of building the checkout).
set -euo pipefail
backend=${1:?sqlite or postgres}
url=${2:-}
PATIENTS=${PATIENTS:-100000} OBS=${OBS:-10} CLINICS=${CLINICS:-100} LOAD_LIMIT=${LOAD_LIMIT:-20m}
DUR=${DUR:-8s} ROUNDS=${ROUNDS:-2} C=${C:-32} PORT=${PORT:-8103} STEPS=${STEPS:-load measure}
DIR=${DIR:-/tmp/ward-bench-mso-$backend}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$DIR" && cd "$DIR"
if [ -n "${WARD_BIN:-}" ]; then cp "$WARD_BIN" "$DIR/ward"; else (cd "$root" && go build -o "$DIR/ward" ./cmd/ward); fi
host=http://127.0.0.1:$PORT
base=$host/fhir/R4
PASSWORD=bench-password-1

db=(-data-dir "$DIR/data")
[ "$backend" = postgres ] && db=(-database-url "$url")
if [[ " $STEPS " == *" load "* ]]; then
  if [ "$backend" = postgres ]; then
    name=${url##*/}; name=${name%%\?*}; maint=${url%/*}/postgres
    psql "$maint" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
  else
    rm -rf data
  fi
  rm -f state.*
fi

./ward serve "${db[@]}" -addr 127.0.0.1:$PORT -base-url "$host/" -admin-password "$PASSWORD" \
  -pprof 127.0.0.1:$((PORT - 2043)) >>server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do curl -sf "$host/healthcheck" >/dev/null 2>&1 && break; sleep 0.2; done

# login EMAIL [PROJECT] prints an access token (password login + code exchange, plain PKCE).
login() {
  local body code
  body=$(jq -nc --arg e "$1" --arg p "$PASSWORD" --arg pr "${2:-}" \
    '{email:$e,password:$p,scope:"openid",codeChallenge:"xyz",codeChallengeMethod:"plain"} + (if $pr != "" then {projectId:$pr} else {} end)')
  code=$(curl -sf "$host/auth/login" -H 'Content-Type: application/json' -d "$body" | jq -r .code)
  curl -sf "$host/oauth2/token" -d grant_type=authorization_code -d code="$code" -d code_verifier=xyz | jq -r .access_token
}

if [[ " $STEPS " == *" load "* ]]; then
  SA=$(login admin@example.com)
  # The MSO project and its admin: self-service sign-up, as startNewUser/startNewProject do.
  l=$(curl -sf "$host/auth/newuser" -H 'Content-Type: application/json' -d "$(jq -nc --arg p "$PASSWORD" \
    '{firstName:"Mso",lastName:"Admin",email:"mso-admin@example.com",password:$p,codeChallenge:"xyz",codeChallengeMethod:"plain"}')" | jq -r .login)
  code=$(curl -sf "$host/auth/newproject" -H 'Content-Type: application/json' -d "{\"login\":\"$l\",\"projectName\":\"MSO bench\"}" | jq -r .code)
  ADMIN=$(curl -sf "$host/oauth2/token" -d grant_type=authorization_code -d code="$code" -d code_verifier=xyz | jq -r .access_token)
  project=$(curl -sf "$host/auth/me" -H "Authorization: Bearer $ADMIN" | jq -r .project.id)
  echo "$project" >state.project

  echo "== load: $CLINICS clinics, $PATIENTS Patients x $OBS Observations (super admin writes with meta.accounts; stops after $LOAD_LIMIT)"
  date -u; uptime
  timeout -s INT "$LOAD_LIMIT" ./ward gendata -url "$base" -token "$SA" -project "$project" -clinics "$CLINICS" \
    -clinics-out state.clinics -patients "$PATIENTS" -observations "$OBS" -c 4 -seed 42 || echo "gendata stopped (limit or error): see above"
  date -u; uptime
  [ "$backend" = postgres ] && psql "$url" -qc 'ANALYZE'

  policy=$(./ward gendata -print-mso-policy)
  H=(-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/fhir+json')
  pid=$(curl -sf "${H[@]}" "$base/AccessPolicy" -d "$policy" | jq -r .id)
  for n in 1 50; do
    head -n $n state.clinics >state.clinics.$n
    access=$(./ward gendata -print-access "AccessPolicy/$pid" -clinics-in state.clinics.$n)
    curl -sf "${H[@]}" "$host/admin/projects/$project/invite" -d "$(jq -nc --arg e "clinician$n@example.com" \
      --arg p "$PASSWORD" --arg pol "AccessPolicy/$pid" --argjson a "$access" \
      '{resourceType:"Practitioner",firstName:"Clin",lastName:"Ician",email:$e,password:$p,sendEmail:false,scope:"project",
        membership:{accessPolicy:{reference:$pol},access:$a}}')" >/dev/null
  done
fi

if [[ " $STEPS " == *" measure "* ]]; then
  project=$(cat state.project)
  ADMIN=$(login mso-admin@example.com)
  C1=$(login clinician1@example.com "$project")
  C50=$(login clinician50@example.com "$project")
  for t in ADMIN C1 C50; do
    printf '%s sees %s Observations, %s Patients\n' $t \
      "$(curl -sf -H "Authorization: Bearer ${!t}" "$base/Observation?_summary=count" | jq .total)" \
      "$(curl -sf -H "Authorization: Bearer ${!t}" "$base/Patient?_summary=count" | jq .total)"
  done
  for t in C1 C50; do
    curl -sf -H "Authorization: Bearer ${!t}" "$base/Observation?_count=1000&_elements=id" | jq -r '.entry[].fullUrl' >"reads.$t"
  done
  searches=("Observation?_count=20" "Observation?code=http://loinc.org|8867-4&_count=20"
    "Observation?date=ge2020-01-01&date=lt2020-02-01&_count=20")
  for t in C1 C50; do
    c=$C d=$DUR
    [ $t = C50 ] && c=${C50_C:-2} d=${C50_DUR:-20s}
    for q in "${searches[@]}"; do
      echo "== $t vs admin: $q (c=$c, $ROUNDS rounds of $d each)"; date -u; uptime
      ./ward load -c "$c" -d "$d" -rounds "$ROUNDS" -token "${!t}" -vs-token "$ADMIN" "$base/$q" || true
    done
    echo "== $t vs admin: read by id (up to 1000 Observations $t may read, c=$c)"; date -u; uptime
    ./ward load -c "$c" -d "$d" -rounds "$ROUNDS" -token "${!t}" -vs-token "$ADMIN" -urls "reads.$t" || true
  done
  grep VmHWM /proc/$server/status
fi
