"""Sends N sequential RFC 7591 registrations of one public client to a
running Sluice over one keep-alive connection, and prints the median and
95th percentile latency in microseconds.

Usage: python3 register_loop.py HOST PORT REGISTRATION_PATH N
"""

import http.client, json, statistics, sys, time
host, port, path, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
conn = http.client.HTTPConnection(host, port)
body = json.dumps({"client_name": "Bench agent", "redirect_uris": ["http://127.0.0.1:33418/callback"], "token_endpoint_auth_method": "none"})
times = []
for i in range(n):
    start = time.perf_counter()
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    times.append((time.perf_counter() - start) * 1e6)
    assert response.status == 201, response.status
times.sort()
print(json.dumps({"n": n, "median_us": round(statistics.median(times)), "p95_us": round(times[int(n * 0.95)]), "per_second_sequential": round(n / (sum(times) / 1e6))}))
