-- wrk script: POST one flow run per request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("SLUICE_PROJECT_ID") .. ":" .. os.getenv("SLUICE_MANAGEMENT_KEY")
wrk.body = '{"flowId": "load-four-steps", "options": {"input": {"loginId": "ada@acme.com", "plan": "pro"}}}'

function done(summary, latency, requests)
  io.write(string.format("runs/s: %.0f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  for _, p in pairs({ 50, 90, 99 }) do
    io.write(string.format("p%d: %.2f ms\n", p, latency:percentile(p) / 1000))
  end
end
