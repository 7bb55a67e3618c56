-- wrk script for llm_bench.sh. Every wrk thread sends exactly its share of N requests on its keep-alive
-- connections, then stops:
--   wrk -t2 -c64 -d600s -s llm_tasks.lua http://127.0.0.1:PORT -- create N W MARKER_DIR TYPE RUN_AT|-
--       POST /api/v1/tasks {"type":TYPE,"input":{"i":K}, "execute":true,"run_at":RUN_AT}
--       (RUN_AT "-": "execute":false, the task stays pending)
--   wrk -t2 -c64 -d600s -s llm_tasks.lua http://127.0.0.1:PORT -- execute N W MARKER_DIR FIRST_ID
--       POST /api/v1/tasks/{id}/execute for the N ids FIRST_ID .. FIRST_ID+N-1, each exactly once
-- W must be wrk's -t. Thread t (0-based, of W) owns the ids/indexes k with k % W == t, so the N requests are split exactly.
-- Once a thread has sent its share, its connections that ask for more get GET /api/v1/health (harmless,
-- recognised by its body and not counted), so no task is created or executed twice. Like create_tasks.lua, each thread takes its
-- own wall-clock times (first request sent, last expected answer) and drops MARKER_DIR/wrk-done.<t>;
-- llm_bench.sh waits for all markers and sends wrk SIGINT. Prints `key value` lines from done().

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } lb_timespec_t;
  int clock_gettime(int clk_id, lb_timespec_t *tp);
]]
local ts = ffi.new("lb_timespec_t")
local function now_us() -- CLOCK_REALTIME: comparable across threads and with the engine's timestamps
  ffi.C.clock_gettime(0, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1]
  local n = tonumber(args[2])
  nthreads = tonumber(args[3])
  marker_dir = args[4]
  if mode == "create" then
    task_type = args[5]
    run_at = args[6]
  elseif mode == "execute" then
    first_id = tonumber(args[5])
  else
    error("llm_tasks.lua: mode must be create or execute")
  end
  -- this thread's share: the indexes k (0-based) with k % nthreads == tid
  share = math.floor(n / nthreads) + ((tid < n % nthreads) and 1 or 0)
  -- wrk calls request() once on thread 0's state before the run to check the request
  -- (script_verify_request); that call must not use up a task, so it gets a health probe
  primed = tid ~= 0
  t_start, t_end = 0, 0
  sent, received, ok, bad = 0, 0, 0, 0
  first_bad = ""
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  if not primed or sent >= share then
    primed = true
    return wrk.format("GET", "/api/v1/health")
  end
  if sent == 0 then t_start = now_us() end
  local k = tid + sent * nthreads
  sent = sent + 1
  if mode == "create" then
    local body
    if run_at == "-" then
      body = string.format('{"type":"%s","input":{"i":%d},"execute":false}', task_type, k)
    else
      body = string.format('{"type":"%s","input":{"i":%d},"execute":true,"run_at":"%s"}', task_type, k, run_at)
    end
    return wrk.format("POST", "/api/v1/tasks", headers, body)
  end
  return wrk.format("POST", string.format("/api/v1/tasks/%d/execute", first_id + k), headers, "")
end

function response(status, hdrs, body)
  -- the answer to a health probe sent once the share was out (those can arrive before the last counted one)
  if status == 200 and body and string.find(body, '"components"', 1, true) then return end
  if received >= share then return end
  received = received + 1
  if (mode == "create" and status == 201) or (mode == "execute" and status == 202) or
     (mode == "execute" and status == 200) then
    ok = ok + 1
  else
    bad = bad + 1
    if first_bad == "" then first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200) end
  end
  if received == share then
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
    c = c + (t:get("ok") or 0)
    b = b + (t:get("bad") or 0)
    local f = t:get("first_bad")
    if fb == "" and f and f ~= "" then fb = f end
  end
  local e = summary.errors
  io.write(string.format("wrk_ok %d\n", c))
  io.write(string.format("wrk_bad %d\n", b))
  io.write(string.format("wrk_errors_connect %d\nwrk_errors_read %d\nwrk_errors_write %d\nwrk_errors_timeout %d\n",
    e.connect, e.read, e.write, e.timeout))
  if t0 < math.huge then io.write(string.format("wrk_start_us %.0f\n", t0)) end
  if t1 > 0 then io.write(string.format("wrk_end_us %.0f\n", t1)) end
  if t1 > 0 and t0 < math.huge then io.write(string.format("wrk_elapsed_us %.0f\n", t1 - t0)) end
  io.write(string.format("wrk_latency_p50_ms %.2f\n", latency:percentile(50) / 1000))
  io.write(string.format("wrk_latency_p99_ms %.2f\n", latency:percentile(99) / 1000))
  if fb ~= "" then io.write("wrk_first_bad " .. string.gsub(fb, "\n", " ") .. "\n") end
end
