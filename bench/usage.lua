-- wrk script for bench/usage.sh: POST /v1/batch with EVENTS track calls per request, each
-- with a unique messageId (`<run>-<thread>-<request>-<i>`), from users spread over the
-- seeded ones (u-<n>, linked to accounts), with the write key (wrk's -H Authorization).
-- Counts the 200 answers and prints a RESULT line.
--
--   wrk -t2 -c32 -d10s -s bench/usage.lua http://127.0.0.1:PORT -- RUN USERS EVENTS

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local run, users, events
local names = { "Lead Imported", "Deal Moved", "Dashboard Viewed", "Email Sent", "Note Added" }
n, ok, failed, acked = 0, 0, 0, 0

function init(args)
  run = args[1] or "run"
  users = tonumber(args[2] or "1000")
  events = tonumber(args[3] or "100")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local parts = {}
  local prefix = run .. "-" .. tid .. "-" .. n .. "-"
  for i = 1, events do
    local user = (n * 7919 + i * 104729 + tid * 15485863) % users
    parts[i] = '{"type":"track","userId":"u-' .. user .. '","event":"' .. names[i % 5 + 1]
      .. '","messageId":"' .. prefix .. i .. '","properties":{"source":"bench","rows":' .. i
      .. '},"context":{"library":{"name":"wrk","version":"4"}}}'
  end
  return wrk.format("POST", "/v1/batch", nil, '{"batch":[' .. table.concat(parts, ",") .. ']}')
end

function response(status, headers, body)
  if status == 200 and not string.find(body, '"rejected"', 1, true) then
    ok = ok + 1
    acked = acked + events
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local total_ok, total_failed, total_events = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_failed = total_failed + thread:get("failed")
    total_events = total_events + thread:get("acked")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d ok=%d failed=%d events=%d rate=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d\n",
    summary.requests, total_ok, total_failed, total_events, total_events / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
      + summary.errors.timeout))
end
