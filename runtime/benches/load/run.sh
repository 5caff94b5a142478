#!/usr/bin/env bash
# Load test of POST /v1/mgmt/flow/run against a release build of `sluice serve`
# on loopback: a four-step flow at concurrency 16 and 64 with wrk. Prints runs/s,
# latency percentiles and the server's peak resident memory.
#
# Usage: runtime/benches/load/run.sh [SECONDS]   (needs `wrk`: apt-get install wrk)
#
# Set SLUICE_BIN to the path of a release `sluice` binary to measure it
# instead of the one this script builds.
set -euo pipefail
cd "$(dirname "$0")/../../.."
duration="${1:-15}"
port=18080
data_dir="$(mktemp -d)"
export SLUICE_PROJECT_ID=Pload SLUICE_MANAGEMENT_KEY=load-test-key SLUICE_LOG=warn

if [ -z "${SLUICE_BIN:-}" ]; then
  cargo build --release -p sluice --quiet
fi
"${SLUICE_BIN:-${CARGO_TARGET_DIR:-target}/release/sluice}" serve --listen "127.0.0.1:$port" --data-dir "$data_dir" \
  --flows runtime/benches/load/flows >/dev/null &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data_dir"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done

curl -sf -X POST "http://127.0.0.1:$port/v1/mgmt/user/create" \
  -H "Authorization: Bearer $SLUICE_PROJECT_ID:$SLUICE_MANAGEMENT_KEY" \
  -d '{"loginId": "ada@acme.com", "email": "ada@acme.com"}' >/dev/null

for connections in 16 64; do
  echo "== concurrency $connections, ${duration}s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  wrk -t 2 -c "$connections" -d "${duration}s" -s runtime/benches/load/run.lua \
    "http://127.0.0.1:$port/v1/mgmt/flow/run" | grep -E "runs/s|p50|p90|p99|non-2xx"
done
echo "peak resident memory: $(grep VmHWM /proc/$server/status | awk '{print $2, $3}')"
