#!/usr/bin/env bash
# Event-to-run-start latency: sends BenchTick custom audit events at a fixed
# rate to a release build of `sluice serve` on loopback, where one flow lists
# BenchTick, then reads the server's trigger_start_latency histogram. The
# histogram measures from the event's recorded time (milliseconds, rounded
# down) to the start of the run's first attempt.
#
# Usage: runtime/benches/triggers/run.sh [RATE] [SECONDS]   (defaults 1000 and 20)
set -euo pipefail
cd "$(dirname "$0")/../../.."
rate="${1:-1000}"
duration="${2:-20}"
port=18081
data_dir="$(mktemp -d)"
export SLUICE_PROJECT_ID=Pbench SLUICE_MANAGEMENT_KEY=bench-key SLUICE_LOG=warn

cargo build --release -p sluice --quiet
target/release/sluice serve --listen "127.0.0.1:$port" --data-dir "$data_dir" \
  --flows runtime/benches/triggers/flows >/dev/null &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data_dir"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.2
done

python3 runtime/benches/triggers/send_events.py "http://127.0.0.1:$port" "$rate" "$duration"
sleep 2
curl -sf "http://127.0.0.1:$port/metrics" | python3 -c '
import sys
buckets, count = [], 0
for line in sys.stdin:
    if line.startswith("sluice_trigger_start_latency_seconds_bucket"):
        bound = line.split("le=\"")[1].split("\"")[0]
        buckets.append((float("inf") if bound == "+Inf" else float(bound), float(line.split()[-1])))
    elif line.startswith("sluice_trigger_start_latency_seconds_count"):
        count = float(line.split()[-1])
print(f"runs started: {count:.0f}")
for label, q in (("p50", 0.5), ("p99", 0.99)):
    bound = next(b for b, c in buckets if c >= q * count)
    print(f"event to run start {label}: <= {bound * 1000:g} ms")
under = next(c for b, c in buckets if abs(b - 0.005) < 1e-9)
print(f"started within 5 ms: {100 * under / count:.2f}%")
'
echo "peak resident memory: $(grep VmHWM /proc/$server/status | awk '{print $2, $3}')"
