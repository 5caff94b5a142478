#!/usr/bin/env bash
# Healthy flow latency while hostile components run beside it.
#
# Builds the release server and the `spin` (endless loop) and `memory-hog`
# (allocates until the memory limit) test fixtures, starts `sluice serve` on
# loopback with a fresh data folder, publishes both fixtures as components
# and deploys one flow for each. Then it measures the four-step flow of the
# load bench (runtime/benches/load/flows/load-four-steps.json) with wrk at a
# fixed concurrency twice: on an otherwise idle server, and while a second
# wrk process keeps the hostile flows running. It prints both p99 latencies
# and their ratio.
#
# Usage: runtime/benches/hostile/run.sh [SECONDS] [CONNECTIONS] [HOSTILE_CONNECTIONS]
#   defaults: 20 s, 16 connections for the healthy flow, 4 for the hostile flows.
#
# Set SLUICE_BIN to the path of a release `sluice` binary to measure it
# instead of the one this script builds.
#
# Needs `wrk`, a benchmark prerequisite and not a test prerequisite. On
# Debian or Ubuntu: apt-get install -y wrk
# Wall-clock numbers mean something only on an otherwise quiet machine, so
# the script prints the load average before each measurement.
set -euo pipefail
cd "$(dirname "$0")/../../.."
duration="${1:-20}"
connections="${2:-16}"
hostile_connections="${3:-4}"
port=18081
target="${CARGO_TARGET_DIR:-target}"
bench_dir=runtime/benches/hostile
data_dir="$(mktemp -d)"
export SLUICE_PROJECT_ID=Phostile SLUICE_MANAGEMENT_KEY=hostile-test-key SLUICE_LOG=warn
auth="Authorization: Bearer $SLUICE_PROJECT_ID:$SLUICE_MANAGEMENT_KEY"

if ! command -v wrk >/dev/null; then
  echo "error: wrk is missing; install it with: apt-get install -y wrk" >&2
  exit 2
fi

if [ -z "${SLUICE_BIN:-}" ]; then
  cargo build --release -p sluice --quiet
fi
sluice="${SLUICE_BIN:-$target/release/sluice}"
# The same profile and stack size that runtime/build.rs uses for guests.
CARGO_ENCODED_RUSTFLAGS="-Clink-arg=-zstack-size=65536" cargo build --quiet \
  --target wasm32-wasip2 --profile wasm -p sluice-fixture-spin -p sluice-fixture-memory-hog

"$sluice" serve --listen "127.0.0.1:$port" --data-dir "$data_dir" \
  --flows runtime/benches/load/flows >/dev/null &
server=$!
hostile=""
trap 'kill $server $hostile 2>/dev/null; rm -rf "$data_dir"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done

for fixture in spin memory-hog; do
  manifest="$data_dir/$fixture.toml"
  printf 'id = "bench/%s"\nversion = "1.0.0"\nworld = "action"\n' "$fixture" >"$manifest"
  "$sluice" component publish \
    "$target/wasm32-wasip2/wasm/sluice_fixture_${fixture//-/_}.wasm" \
    --manifest "$manifest" --url "http://127.0.0.1:$port"
done
for flow in "$bench_dir"/flows/*.json; do
  curl -sf -X POST "http://127.0.0.1:$port/v1/mgmt/flow/import" -H "$auth" \
    -d "{\"flow\": $(cat "$flow")}" >/dev/null
done
curl -sf -X POST "http://127.0.0.1:$port/v1/mgmt/user/create" -H "$auth" \
  -d '{"loginId": "ada@acme.com", "email": "ada@acme.com"}' >/dev/null

measure() {
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  wrk -t 1 -c "$connections" -d "${duration}s" -s runtime/benches/load/run.lua \
    "http://127.0.0.1:$port/v1/mgmt/flow/run" | grep -E "runs/s|p50|p90|p99|non-2xx"
}

# Warm up the compiled flow and the SQLite file before the first measurement.
wrk -t 1 -c "$connections" -d 3s -s runtime/benches/load/run.lua \
  "http://127.0.0.1:$port/v1/mgmt/flow/run" >/dev/null

echo "== idle: healthy flow, $connections connections, ${duration}s"
idle="$(measure)"
echo "$idle"

echo "== hostile: the same, with $hostile_connections connections running spin and memory-hog"
wrk -t 1 -c "$hostile_connections" -d "$((duration + 10))s" -s "$bench_dir/hostile.lua" \
  "http://127.0.0.1:$port/v1/mgmt/flow/run" >"$data_dir/hostile.txt" &
hostile=$!
sleep 3
loaded="$(measure)"
echo "$loaded"
wait "$hostile" || true
hostile=""
echo "hostile load process:"
cat "$data_dir/hostile.txt"

idle_p99="$(echo "$idle" | awk '/^p99:/ {print $2}')"
loaded_p99="$(echo "$loaded" | awk '/^p99:/ {print $2}')"
echo "p99 idle: $idle_p99 ms, p99 with hostile flows: $loaded_p99 ms, ratio: $(awk -v a="$loaded_p99" -v b="$idle_p99" 'BEGIN {printf "%.2f", a / b}')"
echo "peak resident memory of the server: $(grep VmHWM /proc/$server/status | awk '{print $2, $3}')"
