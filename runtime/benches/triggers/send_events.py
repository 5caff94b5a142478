"""Sends custom audit events to a Sluice server at a fixed rate.

Each worker thread keeps one HTTP/1.1 connection and sends its share of
the rate on a fixed schedule, so a slow response delays later sends of that
thread only until it catches up. Prints the rate reached and the response
time percentiles of the event call itself.

Usage: send_events.py BASE_URL RATE SECONDS
"""

import http.client
import json
import os
import sys
import threading
import time
from urllib.parse import urlparse

THREADS = 4


def send(base, rate, seconds, offset, results):
    url = urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    authorization = "Bearer {}:{}".format(os.environ["SLUICE_PROJECT_ID"], os.environ["SLUICE_MANAGEMENT_KEY"])
    interval = THREADS / rate
    start = time.monotonic() + offset * interval / THREADS
    latencies = []
    errors = 0
    n = 0
    while True:
        due = start + n * interval
        if due - start > seconds:
            break
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        body = json.dumps({"action": "BenchTick", "type": "info", "actorId": "bench", "tenantId": "", "data": {"n": n}})
        sent = time.monotonic()
        connection.request("POST", "/v1/mgmt/audit/event", body, {"Authorization": authorization, "Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        latencies.append(time.monotonic() - sent)
        if response.status != 200:
            errors += 1
        n += 1
    results.append((latencies, errors))


def main():
    base, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    results = []
    threads = [threading.Thread(target=send, args=(base, rate, seconds, i, results)) for i in range(THREADS)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    latencies = sorted(value for values, _ in results for value in values)
    errors = sum(count for _, count in results)
    count = len(latencies)
    print(f"sent {count} events in {elapsed:.1f}s ({count / elapsed:.0f}/s), {errors} non-200")
    for label, q in (("p50", 0.5), ("p99", 0.99)):
        print(f"event call {label}: {latencies[min(count - 1, int(q * count))] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
