-- wrk script for queue_bench.sh: every wrk thread POSTs pending bench.noop tasks on its keep-alive
-- connections until it has received QUOTA answers, then stops.
--   wrk -t2 -c64 -d600s -s create_tasks.lua http://127.0.0.1:PORT -- QUOTA MARKER_DIR
-- wrk itself is duration-based: its main thread sleeps for the whole -d even when every thread has
-- stopped, and its summary.duration is that sleep. So each thread takes its own wall-clock times
-- (first request, QUOTA-th answer) and drops MARKER_DIR/wrk-done.<n> when it is through;
-- queue_bench.sh waits for all markers and sends wrk SIGINT, which ends the sleep and runs done().
-- Each thread may have up to (connections / threads) requests in flight when it stops, so the store
-- can end up with a few more tasks than threads * QUOTA; queue_bench.sh counts the rows itself.
-- Prints `key value` lines from done().

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } qb_timespec_t;
  int clock_gettime(int clk_id, qb_timespec_t *tp);
]]
local ts = ffi.new("qb_timespec_t")
local function now_us() -- CLOCK_REALTIME, comparable across threads
  ffi.C.clock_gettime(0, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  quota = tonumber(args[1]) or 25000
  marker_dir = args[2]
  t_start, t_end = 0, 0
  sent, received, created, bad = 0, 0, 0, 0
  first_bad = ""
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  if sent == 0 then t_start = now_us() end
  sent = sent + 1
  local body = string.format('{"type":"bench.noop","input":{"i":%d},"execute":false}', tid * 100000000 + sent)
  return wrk.format("POST", "/api/v1/tasks", headers, body)
end

function response(status, hdrs, body)
  received = received + 1
  if status == 201 then
    created = created + 1
  else
    bad = bad + 1
    if first_bad == "" then first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200) end
  end
  if received == quota then
    t_end = now_us()
    if marker_dir then
      local f = io.open(string.format("%s/wrk-done.%d", marker_dir, tid), "w")
      if f then f:write(string.format("%.0f %.0f\n", t_start, t_end)); f:close() end
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local c, b, fb = 0, 0, ""
  local t0, t1 = math.huge, 0
  for _, t in ipairs(threads) do
    local s, e = t:get("t_start") or 0, t:get("t_end") or 0
    if s > 0 and s < t0 then t0 = s end
    if e > t1 then t1 = e end
    c = c + (t:get("created") or 0)
    b = b + (t:get("bad") or 0)
    local f = t:get("first_bad")
    if fb == "" and f and f ~= "" then fb = f end
  end
  local e = summary.errors
  io.write(string.format("wrk_created %d\n", c))
  io.write(string.format("wrk_non201 %d\n", b))
  -- a response delimited by the server closing the connection counts as a read error in wrk
  io.write(string.format("wrk_errors_connect %d\nwrk_errors_read %d\nwrk_errors_write %d\nwrk_errors_timeout %d\n",
    e.connect, e.read, e.write, e.timeout))
  io.write(string.format("wrk_requests %d\n", summary.requests))
  if t1 > 0 and t0 < math.huge then io.write(string.format("wrk_elapsed_us %.0f\n", t1 - t0)) end
  io.write(string.format("wrk_latency_p50_ms %.2f\n", latency:percentile(50) / 1000))
  io.write(string.format("wrk_latency_p99_ms %.2f\n", latency:percentile(99) / 1000))
  io.write(string.format("wrk_latency_max_ms %.2f\n", latency.max / 1000))
  if fb ~= "" then io.write("wrk_first_non201 " .. string.gsub(fb, "\n", " ") .. "\n") end
end
