-- wrk script: alternates runs of the two hostile flows on each connection
-- and counts the responses by status.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("SLUICE_PROJECT_ID") .. ":" .. os.getenv("SLUICE_MANAGEMENT_KEY")

local bodies = {
  '{"flowId": "hostile-spin", "input": {}}',
  '{"flowId": "hostile-memory-hog", "input": {}}',
}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  statuses = {}
end

function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, bodies[(sent % 2) + 1])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("hostile runs: %d in %.1f s\n", summary.requests, summary.duration / 1e6))
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("status %d: %d\n", status, count))
    end
  end
end
