-- Tests for domains/sales/agents/qualifier.lua and the sales.qualify_lead
-- input schema. Run from the repo root:
--   lua5.4 tests/scripts/qualifier_test.lua
-- The agent is loaded into a strict fake sandbox (only the globals the
-- engine gives scripts; any other global read or write raises), with stub
-- json/log/time/memory.

local AGENT = "domains/sales/agents/qualifier.lua"
local TASK = "domains/sales/tasks/qualify_lead.lua"
local S = dofile("scripts/lua/schema.lua")

local NULL = setmetatable({}, { __name = "json.null" })

---------------------------------------------------------------------------
-- fake sandbox

local mem, mem_sets, logs = {}, {}, {}

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deep_copy(x) end
  return c
end

local function make_env()
  local g = {
    assert = assert, error = error, getmetatable = getmetatable, ipairs = ipairs,
    next = next, pairs = pairs, pcall = pcall, print = print, rawequal = rawequal,
    rawget = rawget, rawlen = rawlen, select = select, setmetatable = setmetatable,
    tonumber = tonumber, tostring = tostring, type = type, xpcall = xpcall,
    _VERSION = _VERSION, string = string, table = table, math = math, utf8 = utf8,
    coroutine = coroutine,
    load = function(chunk, name, _, env) return load(chunk, name, "t", env) end,
    sleep = function() end,
    json = {
      null = NULL,
      encode = function() return "{}" end,
      decode = function() return {} end,
    },
    log = {
      debug = function(...) logs[#logs + 1] = { "debug", ... } end,
      info = function(...) logs[#logs + 1] = { "info", ... } end,
      warn = function(...) logs[#logs + 1] = { "warn", ... } end,
      error = function(...) logs[#logs + 1] = { "error", ... } end,
    },
    time = {
      now = function() return 1700000000.25 end,
      ms = function() return 1700000000250 end,
      iso = function() return "2023-11-14T22:13:20.250Z" end,
    },
    memory = {
      get = function(k) return deep_copy(mem[k]) end,
      set = function(k, v)
        mem_sets[#mem_sets + 1] = k
        mem[k] = deep_copy(v)
      end,
      delete = function(k) mem[k] = nil end,
    },
  }
  g._G = g
  return setmetatable(g, {
    __index = function(_, k) error("sandbox: unknown global '" .. tostring(k) .. "'", 2) end,
    __newindex = function(_, k) error("sandbox: assignment to global '" .. tostring(k) .. "'", 2) end,
  })
end

local function load_script(path)
  local chunk, err = loadfile(path, "t", make_env())
  if not chunk then error("cannot load " .. path .. ": " .. err) end
  return chunk()
end

---------------------------------------------------------------------------
-- harness

local count, failures = 0, {}
local function test(name, fn)
  count = count + 1
  local ok, err = pcall(fn)
  if not ok then failures[#failures + 1] = name .. ": " .. tostring(err) end
end

local function eq(got, want, what)
  if got ~= want then
    error(string.format("%s: expected %s, got %s", what, tostring(want), tostring(got)), 2)
  end
end

local agent = load_script(AGENT)
local task_type = load_script(TASK)

local function run(input)
  local task = { id = "t-1", type = "sales.qualify_lead", domain = "sales", input = input, attempt = 1 }
  local ctx = { domain = "sales", task_id = "t-1", attempt = 1 }
  return agent.run(task, ctx)
end

local SAMPLE = { email = "ana@example.com", company = "Acme", budget = 20000.0,
  authority = "decision_maker", need = "high", timeline_days = 30.0 }

---------------------------------------------------------------------------
-- agent shape

test("agent contract", function()
  eq(agent.name, "Lead Qualifier", "name")
  eq(agent.capabilities[1], "lead_scoring", "capabilities[1]")
  eq(agent.capabilities[2], "qualification", "capabilities[2]")
  eq(type(agent.tools), "table", "tools")
  eq(#agent.tools, 0, "#tools")
  eq(type(agent.run), "function", "run")
  eq(type(agent.score_lead), "function", "score_lead")
end)

test("task type contract", function()
  eq(task_type.agent, "qualifier", "agent")
  eq(type(task_type.description), "string", "description")
  eq(task_type.timeout, 30, "timeout")
  eq(task_type.max_attempts, 3, "max_attempts")
  eq(S.check_schema(task_type.input), nil, "check_schema(input)")
end)

test("domain config", function()
  local cfg = load_script("domains/sales/config.lua")
  eq(cfg.description, "Qualify and close leads", "description")
  eq(cfg.concurrency, 64, "concurrency")
  eq(cfg.max_attempts, 3, "max_attempts")
end)

---------------------------------------------------------------------------
-- scoring through run()

test("sample lead scores 95, hot, qualified, and is recorded", function()
  mem_sets, logs = {}, {}
  local r = run(SAMPLE)
  eq(r.score, 95, "score")
  eq(math.type(r.score), "integer", "score is an integer")
  eq(r.qualified, true, "qualified")
  eq(r.tier, "hot", "tier")
  eq(r.breakdown.budget, 25, "breakdown.budget")
  eq(r.breakdown.authority, 25, "breakdown.authority")
  eq(r.breakdown.need, 25, "breakdown.need")
  eq(r.breakdown.timeline, 20, "breakdown.timeline")
  eq(r.email, "ana@example.com", "email")
  eq(r.company, "Acme", "company")
  eq(#r.reasons, 4, "#reasons")
  eq(r.reasons[1], "budget 20000 >= 20000: +25", "reasons[1]")
  eq(r.reasons[2], "authority decision_maker: +25", "reasons[2]")
  eq(r.reasons[3], "need high: +25", "reasons[3]")
  eq(r.reasons[4], "timeline 30 days <= 30: +20", "reasons[4]")
  eq(#mem_sets, 1, "memory.set calls")
  eq(mem_sets[1], "lead:ana@example.com", "memory key")
  local saved = mem["lead:ana@example.com"]
  eq(saved.score, 95, "saved.score")
  eq(saved.qualified, true, "saved.qualified")
  eq(saved.tier, "hot", "saved.tier")
  eq(saved.at, 1700000000.25, "saved.at")
  eq(#logs, 1, "log calls")
  eq(logs[1][1], "info", "log level")
  eq(logs[1][2], "qualified lead", "log message")
  eq(logs[1][3], "ana@example.com", "log email")
  eq(logs[1][4], 95, "log score")
end)

test("lead without budget is cold, reasons explain the misses", function()
  mem_sets = {}
  local r = run({ email = "bo@example.com", company = "Tiny", need = "low", authority = "user" })
  eq(r.score, 13, "score")
  eq(r.qualified, false, "qualified")
  eq(r.tier, "cold", "tier")
  eq(r.reasons[1], "budget missing: +0", "reasons[1]")
  eq(r.reasons[4], "timeline missing: +0", "reasons[4]")
  eq(mem_sets[1], "lead:bo@example.com", "memory key")
  eq(mem["lead:bo@example.com"].qualified, false, "saved.qualified")
end)

test("json null fields count as missing", function()
  local r = run({ email = "n@example.com", company = "N", budget = NULL, authority = NULL,
    need = NULL, timeline_days = NULL })
  eq(r.score, 0, "score")
  eq(r.tier, "cold", "tier")
  eq(r.reasons[2], "authority missing: +0", "reasons[2]")
end)

test("maximum score is 100", function()
  local r = run({ email = "max@example.com", company = "Big", budget = 1e6,
    authority = "decision_maker", need = "high", timeline_days = 0 })
  eq(r.score, 100, "score")
end)

test("run without email fails clearly", function()
  local ok, err = pcall(run, { company = "X" })
  eq(ok, false, "ok")
  assert(tostring(err):find("email is required", 1, true), "message: " .. tostring(err))
end)

---------------------------------------------------------------------------
-- boundaries through the pure scorer

local score = agent.score_lead

test("budget boundaries", function()
  local cases = {
    { 50000, 30 }, { 49999.99, 25 }, { 20000, 25 }, { 19999, 15 }, { 10000, 15 },
    { 9999, 8 }, { 5000, 8 }, { 4999, 0 }, { 0, 0 }, { nil, 0 }, { "lots", 0 },
  }
  for _, c in ipairs(cases) do
    eq(score({ budget = c[1] }).breakdown.budget, c[2], "budget " .. tostring(c[1]))
  end
  eq(score({ budget = 4999.0 }).reasons[1], "budget 4999 < 5000: +0", "budget miss reason")
  eq(score({ budget = 60000.0 }).reasons[1], "budget 60000 >= 50000: +30", "budget top reason")
end)

test("authority and need points", function()
  local a = { decision_maker = 25, influencer = 15, user = 8, unknown = 0, ceo = 0 }
  for k, v in pairs(a) do eq(score({ authority = k }).breakdown.authority, v, "authority " .. k) end
  eq(score({}).breakdown.authority, 0, "authority missing")
  local n = { high = 25, medium = 15, low = 5, urgent = 0 }
  for k, v in pairs(n) do eq(score({ need = k }).breakdown.need, v, "need " .. k) end
  eq(score({}).breakdown.need, 0, "need missing")
end)

test("timeline boundaries", function()
  local cases = { { 0, 20 }, { 30, 20 }, { 31, 12 }, { 90, 12 }, { 91, 6 }, { 180, 6 },
    { 181, 2 }, { 3650, 2 }, { nil, 0 } }
  for _, c in ipairs(cases) do
    eq(score({ timeline_days = c[1] }).breakdown.timeline, c[2], "timeline " .. tostring(c[1]))
  end
  eq(score({ timeline_days = 400.0 }).reasons[4], "timeline 400 days > 180: +2", "long reason")
end)

test("tier and qualified thresholds", function()
  local cases = {
    -- input                                                                score tier    qualified
    { { budget = 50000, authority = "decision_maker", need = "high" },        80, "hot",  true },
    { { budget = 50000, authority = "decision_maker", need = "medium", timeline_days = 200 }, 72, "warm", true },
    { { budget = 50000, authority = "decision_maker", need = "low" },         60, "warm", true },
    { { budget = 10000, authority = "influencer", need = "high", timeline_days = 200 }, 57, "cold", false },
    { { budget = 20000, authority = "user", need = "high", timeline_days = 100 }, 64, "warm", true },
    { {},                                                                      0, "cold", false },
  }
  for i, c in ipairs(cases) do
    local r = score(c[1])
    eq(r.score, c[2], "case " .. i .. " score")
    eq(r.tier, c[3], "case " .. i .. " tier")
    eq(r.qualified, c[4], "case " .. i .. " qualified")
  end
end)

---------------------------------------------------------------------------
-- input schema

local function errs_of(input)
  return S.validate(task_type.input, input, { null = NULL })
end

local function one_error(input, field)
  local errs = errs_of(input)
  local fields = {}
  for i, e in ipairs(errs) do fields[i] = e.field .. " (" .. e.message .. ")" end
  if #errs ~= 1 or errs[1].field ~= field then
    error("expected one error on " .. field .. ", got: " .. table.concat(fields, ", "), 2)
  end
  return errs[1]
end

local function with(changes)
  local t = {}
  for k, v in pairs(SAMPLE) do t[k] = v end
  for k, v in pairs(changes) do t[k] = v end
  return t
end

test("sample input is valid", function()
  eq(#errs_of(SAMPLE), 0, "errors")
  eq(#errs_of({ email = "x@example.org", company = "C", extra = "allowed" }), 0, "minimal + extra")
end)

test("missing email", function()
  local t = with({}); t.email = nil
  eq(one_error(t, "email").message, "is required", "message")
end)

test("budget 'lots'", function()
  eq(one_error(with({ budget = "lots" }), "budget").message, "must be a number", "message")
  eq(one_error(with({ budget = -1 }), "budget").message, "must be at least 0", "message")
end)

test("authority 'ceo'", function()
  eq(one_error(with({ authority = "ceo" }), "authority").message,
    "must be one of: decision_maker, influencer, user, unknown", "message")
end)

test("other bad inputs", function()
  eq(one_error(with({ email = "not-an-email" }), "email").message, "must be a valid email address", "email")
  one_error(with({ company = "" }), "company")
  one_error(with({ company = string.rep("x", 201) }), "company")
  one_error(with({ timeline_days = 1.5 }), "timeline_days")
  one_error(with({ timeline_days = 3651 }), "timeline_days")
  one_error(with({ need = "urgent" }), "need")
  one_error(with({ notes = string.rep("n", 5001) }), "notes")
  one_error(with({ budget = NULL }), "budget")
  local errs = errs_of({})
  eq(#errs, 2, "empty input errors")
  eq(errs[1].field, "company", "first error"); eq(errs[2].field, "email", "second error")
end)

---------------------------------------------------------------------------

if #failures > 0 then
  io.stderr:write(string.format("FAIL %d of %d tests\n", #failures, count))
  for _, f in ipairs(failures) do io.stderr:write("  " .. f .. "\n") end
  os.exit(1)
end
print(string.format("ok %d tests", count))
