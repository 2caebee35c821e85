-- wrk script for `make loadtest`'s settle-only figure: POST /v1/settlements, each request a new
-- claim. ONESTOP_WRK_BODIES names a file of prepared claims, one a line: the API key, a tab,
-- and the claim's JSON with the placeholder __CLAIM_ID__, which each request replaces with an
-- id of its own (thread, run, counter), so that no request is a replay of another.
-- Every answer other than ONESTOP_WRK_STATUS (201 by default) is counted as an error.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  for line in io.lines(os.getenv("ONESTOP_WRK_BODIES")) do
    local key, body = line:match("^(%S+)\t(.*)$")
    bodies[#bodies + 1] = { key, body }
  end
  run = os.getenv("ONESTOP_WRK_RUN") or "0"
  expected = tonumber(os.getenv("ONESTOP_WRK_STATUS") or "201")
  counter = 0
  errors = 0
  statuses = {}
end

function request()
  counter = counter + 1
  local entry = bodies[(counter % #bodies) + 1]
  local claim_id = "W" .. run .. "T" .. id .. "N" .. counter
  local body = entry[2]:gsub("__CLAIM_ID__", claim_id, 1)
  return wrk.format("POST", "/v1/settlements", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. entry[1],
  }, body)
end

function response(status, headers, body)
  if status ~= expected then
    errors = errors + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("errors")
  end
  io.write(string.format(
    "ONESTOP requests=%d seconds=%.3f errors=%d p50_ms=%.2f p99_ms=%.2f socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, failed,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  ))
end
