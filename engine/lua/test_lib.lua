-- test_lib.lua: the globals of a *_test.lua file under `agency test` (engine/testrun.c embeds this file).
--
-- The engine loads this file once per test file's Lua state, in the sandbox, and calls the function it
-- returns with the sandbox globals G and its C primitives. It returns the environment of the test file
-- (G plus the test API; unknown names raise, like in scripts) and the list of the file's tests, which
-- the engine then runs one by one, each under its own instruction budget and with empty memory.
--
--   test(name, fn)                      declare a test
--   eq(actual, expected [, msg])        deep equality; the failure names the first difference
--   ok(value [, msg])                   value is neither nil nor false
--   match(s, pattern [, msg])           s is a string matching the Lua pattern
--   raises(fn [, pattern])              fn() raises (an error matching pattern); returns the error
--   run_agent(name, input [, opts])     runs agents/<name>.lua of the file's domain -> result
--   run_task(type, input [, opts])      the same through a task type, its input schema checked first
--                                       -> result, handoffs (what the engine would hand off)
--   run_handoff(name, result [, meta])  evaluates handoffs/<name>.lua -> {status=, reasons=, input=, to=}
-- opts: { llm = { responses = { ... } },          the model's answers, in order, instead of the mock's
--         approve = { approved = false, comment = "..." } or function(request) -> decision,
--                                                    what task.approve{} returns (default: auto-approved)
--         workflow_id = "...", attempt = n }         ctx.workflow_id, task.attempt

return function(G, prims)
  local type, pairs, ipairs, error, pcall, tostring, select = type, pairs, ipairs, error, pcall, tostring, select
  local sformat, srep, ssub, sfind, sgsub = string.format, string.rep, string.sub, string.find, string.gsub
  local mtype, tconcat, tsort = math.type, table.concat, table.sort
  local null = json.null

  local tests, running = {}, false

  ---------------------------------------------------------------------------------------------------------
  -- showing values

  local function show_string(s, limit)
    limit = limit or 120
    local cut = #s > limit
    if cut then s = ssub(s, 1, limit) end
    s = sgsub(s, '[%c"\\]', function(c)
      if c == "\n" then return "\\n" elseif c == "\t" then return "\\t" elseif c == '"' then return '\\"'
      elseif c == "\\" then return "\\\\" end
      return sformat("\\%d", c:byte())
    end)
    return '"' .. s .. (cut and '"...' or '"')
  end

  local function show_number(n)
    if mtype(n) == "float" then
      if n ~= n then return "nan" end
      local s = tostring(n)
      if tonumber(s) ~= n then s = sformat("%.17g", n) end
      return s
    end
    return tostring(n)
  end

  local function key_less(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta == "number" end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end

  local function sorted_keys(t)
    local ks = {}
    for k in pairs(t) do ks[#ks + 1] = k end
    tsort(ks, key_less)
    return ks
  end

  local show

  local function show_table(t, depth, seen)
    if seen[t] then return "{ <cycle> }" end
    if depth > 3 then return "{...}" end
    seen[t] = true
    local n, parts, len = #t, {}, 0
    local ks = sorted_keys(t)
    for _, k in ipairs(ks) do
      local kv
      if mtype(k) == "integer" and k >= 1 and k <= n then
        kv = show(t[k], depth + 1, seen)
      elseif type(k) == "string" and sfind(k, "^[%a_][%w_]*$") then
        kv = k .. " = " .. show(t[k], depth + 1, seen)
      else
        kv = "[" .. show(k, depth + 1, seen) .. "] = " .. show(t[k], depth + 1, seen)
      end
      parts[#parts + 1] = kv
      len = len + #kv
      if len > 200 then parts[#parts + 1] = "..."; break end
    end
    seen[t] = nil
    if #parts == 0 then return "{}" end
    return "{ " .. tconcat(parts, ", ") .. " }"
  end

  show = function(v, depth, seen)
    local t = type(v)
    if v == null then return "json.null" end
    if t == "string" then return show_string(v) end
    if t == "number" then return show_number(v) end
    if t == "table" then return show_table(v, depth or 1, seen or {}) end
    return tostring(v)
  end

  local function show_key(k)
    if type(k) == "string" and sfind(k, "^[%a_][%w_]*$") then return "." .. k end
    return "[" .. show(k) .. "]"
  end

  ---------------------------------------------------------------------------------------------------------
  -- deep equality

  -- nil when equal, else path, actual, expected of the first difference (keys in sorted order)
  local function diff(a, b, path, seen)
    if rawequal(a, b) then return nil end
    local ta, tb = type(a), type(b)
    if ta ~= tb or ta ~= "table" then
      if ta == tb and a == b then return nil end
      return path, a, b
    end
    seen[a] = seen[a] or {}
    if seen[a][b] then return nil end
    seen[a][b] = true
    local keys, have = {}, {}
    for k in pairs(a) do if not have[k] then have[k] = true; keys[#keys + 1] = k end end
    for k in pairs(b) do if not have[k] then have[k] = true; keys[#keys + 1] = k end end
    tsort(keys, key_less)
    for _, k in ipairs(keys) do
      local p, x, y = diff(a[k], b[k], path .. show_key(k), seen)
      if p then return p, x, y end
    end
    return nil
  end

  local function describe(path, got, want)
    local where = path == "" and "" or "at " .. path .. ": "
    if type(got) == "string" and type(want) == "string" and (#got > 40 or #want > 40) then
      local i = 1
      while i <= #got and ssub(got, i, i) == ssub(want, i, i) do i = i + 1 end
      local from = i > 30 and i - 30 or 1
      local function window(str)
        local shown = show_string(ssub(str, from), 70)
        return from > 1 and '"...' .. ssub(shown, 2) or shown
      end
      return sformat("%sstrings differ at byte %d: expected %s, got %s", where, i, window(want), window(got))
    end
    local g = show(got)
    local w = show(want)
    if got == nil then g = "nil (no such key)" end
    if want == nil and path ~= "" then w = "nil (no such key)" end
    if g == w then -- same text, different values (1 vs 1.0 never: == holds; so types or identities)
      g = g .. " (" .. type(got) .. ")"
      w = w .. " (" .. type(want) .. ")"
    end
    return sformat("%sexpected %s, got %s", where, w, g)
  end

  local function fail(msg, user_msg)
    if user_msg ~= nil then msg = tostring(user_msg) .. ": " .. msg end
    error(msg, 3)
  end

  local function eq(actual, expected, msg)
    local path, got, want = diff(actual, expected, "", {})
    if path then fail(describe(path, got, want), msg) end
  end

  local function ok(value, msg)
    if not value then
      if msg ~= nil then fail("got " .. show(value), msg) end
      fail("expected a true value, got " .. show(value))
    end
    return value
  end

  local function match(s, pattern, msg)
    if type(pattern) ~= "string" then error("match: the pattern must be a string", 2) end
    if type(s) ~= "string" then fail("expected a string matching " .. show_string(pattern) .. ", got " .. show(s), msg) end
    if not sfind(s, pattern) then fail(show_string(s, 200) .. " does not match " .. show_string(pattern), msg) end
    return s
  end

  local function error_text(e)
    if type(e) == "string" then return e end
    if type(e) == "table" then
      local m, c = rawget(e, "message"), rawget(e, "code")
      if type(m) == "string" then return type(c) == "string" and c .. ": " .. m or m end
    end
    return tostring(e)
  end

  local function raises(fn, pattern)
    if type(fn) ~= "function" then error("raises: expected a function, got " .. type(fn), 2) end
    if pattern ~= nil and type(pattern) ~= "string" then error("raises: the pattern must be a string", 2) end
    local okay, err = pcall(fn)
    if okay then fail("expected an error, but the function returned") end
    if pattern and not sfind(error_text(err), pattern) then
      fail("the error " .. show_string(error_text(err), 300) .. " does not match " .. show_string(pattern))
    end
    return err
  end

  local function test(name, fn)
    if running then error("test() inside a test: declare tests at the top level of the file", 2) end
    if type(name) ~= "string" or name == "" then error("test: the name must be a non-empty string", 2) end
    if type(fn) ~= "function" then error("test: expected test(name, function() ... end)", 2) end
    tests[#tests + 1] = { name = name, fn = fn, line = prims.caller_line() }
  end

  ---------------------------------------------------------------------------------------------------------
  -- running scripts

  -- A scripted model answer, as the journal holds it: a string is the answer's text; a table with text or
  -- tool_calls is an answer; any other table is a JSON answer (encoded as the text).
  local function scripted(responses)
    if responses == nil then return nil end
    if type(responses) ~= "table" then error("opts.llm.responses must be a list", 4) end
    local out = {}
    for i, r in ipairs(responses) do
      local resp
      if type(r) == "string" then
        resp = { text = r }
      elseif type(r) == "table" and (r.text ~= nil or r.tool_calls ~= nil) then
        resp = { text = r.text or "", tool_calls = nil }
        if r.tool_calls ~= nil then
          if type(r.tool_calls) ~= "table" then error("opts.llm.responses[" .. i .. "].tool_calls must be a list", 4) end
          local calls = {}
          for j, c in ipairs(r.tool_calls) do
            if type(c) ~= "table" or type(c.name) ~= "string" then
              error("opts.llm.responses[" .. i .. "].tool_calls[" .. j .. "] must be {name =, arguments =}", 4)
            end
            calls[j] = { id = c.id or ("call_" .. i .. "_" .. j), name = c.name, arguments = c.arguments or {} }
          end
          resp.tool_calls = calls
        end
      elseif type(r) == "table" then
        resp = { text = json.encode(r) }
      else
        error("opts.llm.responses[" .. i .. "] must be a string or a table", 4)
      end
      resp.finish_reason = resp.tool_calls and "tool_calls" or "stop"
      resp.usage = { prompt_tokens = 0, completion_tokens = 0 }
      resp.provider, resp.model, resp.cost, resp.latency_ms = "scripted", "scripted", 0, 0
      out[i] = json.encode(resp)
    end
    return out
  end

  -- the shape of a human's decision (api_task.c): data is the request's, as the human saw it
  local function decision(d, req)
    local data = d.data
    if data == nil and type(req) == "table" then data = req.data end
    return { approved = d.approved, decision = d.approved and "approved" or "rejected", comment = d.comment,
             decided_by = d.decided_by or "test", decided_at = d.decided_at or time.iso(), data = data }
  end

  -- opts.approve: a decision, or function(request) -> decision (or a boolean); task.approve{} returns it
  local function approver(a, fname)
    if a == nil then return nil end
    local usage = fname .. ": opts.approve must be {approved = true|false [, comment =, decided_by =, decided_at =]} "
      .. "or a function(request) returning one"
    if type(a) == "table" then
      if type(a.approved) ~= "boolean" then error(usage, 4) end
      if a.comment ~= nil and type(a.comment) ~= "string" then error(fname .. ": opts.approve.comment must be a string", 4) end
      return function(req) return decision(a, req) end
    end
    if type(a) ~= "function" then error(usage, 4) end
    return function(req)
      local d = a(req)
      if type(d) == "boolean" then d = { approved = d } end
      if type(d) ~= "table" or type(d.approved) ~= "boolean" then
        error("opts.approve: the function must return {approved = true|false, ...} or a boolean", 0)
      end
      return decision(d, req)
    end
  end

  local known_opts = { llm = true, approve = true, workflow_id = true, attempt = true }

  local function run_opts(opts, fname)
    if opts == nil then return nil, nil, nil, nil end
    if type(opts) ~= "table" then error(fname .. ": opts must be a table", 3) end
    for k in pairs(opts) do
      if not known_opts[k] then
        error(fname .. ": unknown option '" .. tostring(k) .. "' (llm, approve, workflow_id, attempt)", 3)
      end
    end
    local responses
    if opts.llm ~= nil then
      if type(opts.llm) ~= "table" then error(fname .. ": opts.llm must be a table like {responses = {...}}", 3) end
      responses = scripted(opts.llm.responses)
    end
    if opts.workflow_id ~= nil and type(opts.workflow_id) ~= "string" then
      error(fname .. ": opts.workflow_id must be a string", 3)
    end
    if opts.attempt ~= nil and (mtype(opts.attempt) ~= "integer" or opts.attempt < 1) then
      error(fname .. ": opts.attempt must be an integer >= 1", 3)
    end
    return responses, opts.workflow_id, opts.attempt, approver(opts.approve, fname)
  end

  local function run_agent(name, input, opts)
    if type(name) ~= "string" then error("run_agent: expected the agent's name (agents/<name>.lua)", 2) end
    local responses, wf, attempt, approve = run_opts(opts, "run_agent")
    return prims.run(false, name, input == nil and {} or input, responses, wf, attempt, approve)
  end

  local function run_task(ttype, input, opts)
    if type(ttype) ~= "string" then error("run_task: expected a task type (\"<domain>.<task>\" or \"<task>\")", 2) end
    local responses, wf, attempt, approve = run_opts(opts, "run_task")
    return prims.run(true, ttype, input == nil and {} or input, responses, wf, attempt, approve)
  end

  local function run_handoff(name, result, meta)
    if type(name) ~= "string" then error("run_handoff: expected the handoff's name (handoffs/<name>.lua)", 2) end
    if meta ~= nil and type(meta) ~= "table" then error("run_handoff: meta must be a table", 2) end
    return prims.handoff(name, result, meta or {})
  end

  local function print_(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    prims.print(tconcat(parts, "\t"))
  end

  ---------------------------------------------------------------------------------------------------------
  -- the environment

  local api = {
    test = test, eq = eq, ok = ok, match = match, raises = raises,
    run_agent = run_agent, run_task = run_task, run_handoff = run_handoff, print = print_,
  }
  local env = setmetatable({}, {
    __index = function(_, k)
      local v = api[k]
      if v ~= nil then return v end
      v = G[k]
      if v ~= nil then return v end
      error("undeclared global '" .. tostring(k) .. "' (the sandbox has no such global)", 2)
    end,
    __newindex = function(_, k)
      error("assignment to undeclared global '" .. tostring(k) .. "' (declare it local)", 2)
    end,
    __metatable = false,
  })
  local function set_running(on) running = on end
  return env, tests, set_running
end
