-- wrk script for bench/nudges.sh: GET /v1/nudges?userId=u-<n> for users spread over the
-- seeded ones, with the write key (wrk's -H Authorization). Counts answers with at least one
-- nudge, and prints the latency percentiles in a RESULT line.
--
--   wrk -t2 -c32 -d10s -s bench/nudges.lua http://127.0.0.1:PORT -- USERS

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local users
n, with_nudge, failed = 0, 0, 0

function init(args)
  users = tonumber(args[1] or "1000")
end

function request()
  n = n + 1
  local user = (n * 7919 + tid * 104729) % users
  return wrk.format("GET", "/v1/nudges?userId=u-" .. user, nil, nil)
end

function response(status, headers, body)
  if status ~= 200 then
    failed = failed + 1
  elseif string.find(body, '"id":', 1, true) then
    with_nudge = with_nudge + 1
  end
end

function done(summary, latency, requests)
  local total_nudge, total_failed = 0, 0
  for _, thread in ipairs(threads) do
    total_nudge = total_nudge + thread:get("with_nudge")
    total_failed = total_failed + thread:get("failed")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d rate=%.0f with_nudge=%d failed=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d\n",
    summary.requests, summary.requests / seconds, total_nudge, total_failed,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
      + summary.errors.timeout))
end
