-- wrk script for bench/intake.sh: one event per POST /api/events, every id unique.
--
--   wrk -t2 -c64 -d<window + tail>s -s bench/intake.lua http://127.0.0.1:PORT -- RUN WINDOW
--
-- RUN prefixes every event id (`RUN-<thread>-<n>`, a per-thread counter). Each thread posts
-- events for WINDOW seconds, then only asks GET /healthz, slowly, until wrk stops: every
-- POST in flight at the end of the window is answered and counted, so the events stored
-- must equal the POSTs answered 200 "new". The rate is those events over the span from the
-- first POST sent to the last POST answered (not over wrk's whole duration).
-- Headers (bearer token, content type) come from wrk's -H flags.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } onboard_timespec;
int clock_gettime(int clock_id, onboard_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("onboard_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

-- Main thread: one handle per wrk thread, numbered.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

-- Per thread (each has its own Lua state). The counters are globals because done() reads
-- them with thread:get, which sees only globals.
local run, deadline, health
local tail = false
sent, ok, duplicate, failed = 0, 0, 0, 0
first_sent, last_answer = -1, -1
local N_ACCOUNTS = 10000

function init(args)
  run = args[1] or "run"
  local window = tonumber(args[2] or "10")
  deadline = now() + window
  health = wrk.format("GET", "/healthz", nil, nil)
end

-- Only matters in the tail: one health check per connection every 200 ms.
function delay()
  if tail then
    return 200
  end
  return 0
end

function request()
  local t = now()
  if tail or t >= deadline then
    tail = true
    return health
  end
  if first_sent < 0 then
    first_sent = t
  end
  sent = sent + 1
  local body = string.format(
    '{"id":"%s-%d-%d","type":"bench.event","account":"acct-%d","data":{}}',
    run, tid, sent, (sent * 7 + tid) % N_ACCOUNTS)
  return wrk.format("POST", "/api/events", nil, body)
end

function response(status, headers, body)
  if body == '{"status":"ok"}' then
    return -- a tail health check
  end
  last_answer = now()
  if status == 200 and string.find(body, '"status":"new"', 1, true) then
    ok = ok + 1
  elseif status == 200 and string.find(body, '"status":"duplicate"', 1, true) then
    duplicate = duplicate + 1
  else
    failed = failed + 1
    if failed <= 3 then
      io.stderr:write(string.format("POST answered %d: %s\n", status, body))
    end
  end
end

function done(summary, latency, requests)
  local sent_all, ok_all, dup_all, failed_all = 0, 0, 0, 0
  local first, last = math.huge, 0
  for _, thread in ipairs(threads) do
    sent_all = sent_all + thread:get("sent")
    ok_all = ok_all + thread:get("ok")
    dup_all = dup_all + thread:get("duplicate")
    failed_all = failed_all + thread:get("failed")
    local f, l = thread:get("first_sent"), thread:get("last_answer")
    if f >= 0 and f < first then first = f end
    if l > last then last = l end
  end
  local span = last - first
  local errors = summary.errors
  -- Latency percentiles include the few tail health checks (5/s per connection).
  io.write(string.format(
    "RESULT sent=%d ok=%d duplicate=%d failed=%d span=%.3f rate=%.0f " ..
    "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f " ..
    "errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    sent_all, ok_all, dup_all, failed_all, span, ok_all / math.max(span, 1e-9),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
