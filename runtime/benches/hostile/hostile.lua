-- wrk script: alternates runs of the two hostile flows on each connection.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("SLUICE_PROJECT_ID") .. ":" .. os.getenv("SLUICE_MANAGEMENT_KEY")

local bodies = {
  '{"flowId": "hostile-spin", "input": {}}',
  '{"flowId": "hostile-memory-hog", "input": {}}',
}
local sent = 0

function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, bodies[(sent % 2) + 1])
end

function done(summary, latency, requests)
  io.write(string.format("hostile runs: %d in %.1f s\n", summary.requests, summary.duration / 1e6))
  io.write(string.format("responses other than 2xx (failed runs, 429): %d\n", summary.errors.status))
end
