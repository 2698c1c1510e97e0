#!/usr/bin/env bash
# The server benchmark of docs/benchmarks.md, on one backend:
#   scripts/bench.sh sqlite            # embedded SQLite in $DIR/data
#   scripts/bench.sh postgres URL      # PostgreSQL at URL (its public schema is emptied first!)
# Env: PATIENTS (100000), OBS (10 per patient), DUR (15s per load run), C (32).
set -euo pipefail
backend=${1:?sqlite or postgres}
url=${2:-}
PATIENTS=${PATIENTS:-100000} OBS=${OBS:-10} DUR=${DUR:-15s} C=${C:-32}
DIR=${DIR:-/tmp/ward-bench-$backend}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$DIR" && cd "$DIR"
(cd "$root" && go build -o "$DIR/ward" ./cmd/ward)

db=()
if [ "$backend" = postgres ]; then
  psql "$url" -qc 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;'
  db=(-database-url "$url")
else
  rm -rf data
fi
./ward serve "${db[@]}" -addr 127.0.0.1:8103 >server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 2
base=http://127.0.0.1:8103/fhir/R4

echo "== ingest: $PATIENTS Patients + $((PATIENTS*OBS)) Observations, transaction bundles of 100"
./ward gendata -url $base -patients "$PATIENTS" -observations "$OBS" -c 4 -seed 42
echo "== ingest: single creates at concurrency 32"
./ward gendata -url $base -patients 2000 -observations 4 -single -c 32 -seed 7

curl -s "$base/Patient?_count=1000&_elements=id" | grep -o '"fullUrl":"[^"]*"' | cut -d'"' -f4 >patients.txt
echo "== read by id (1000 random Patients), with a bare net/http handler serving the same bytes"
./ward load -c "$C" -d "$DUR" -urls patients.txt -bare
echo "== token search"
./ward load -c "$C" -d "$DUR" -sql "${db[@]}" "$base/Observation?code=http://loinc.org|8867-4&_count=20"
echo "== date-range search"
./ward load -c "$C" -d "$DUR" -sql "${db[@]}" "$base/Observation?date=ge2020-01-01&date=lt2020-02-01&_count=20"
echo "== peak RSS of the server"
grep VmHWM /proc/$server/status
