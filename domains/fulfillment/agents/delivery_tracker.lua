-- Delivery Tracker: milestone updates -> milestone status, slips in working days, risks and the
-- project's status (fulfillment.track_delivery, handed over by handoffs/plan_to_tracking.lua or
-- posted by staff with updates).
--
-- Deterministic (rules), with as_of = input.as_of or today:
--   updates   applied in order to the milestone they name: status (in_progress, done, blocked),
--             completed_on (default as_of), forecast_due, checks_done (added up), note. An update
--             naming no milestone of the plan, reopening a done one, or completed after as_of is not
--             applied and is listed in ignored_updates.
--   mode "simulate" (no updates needed): every open milestone is done on its due date with all its
--             checks, and as_of moves to the last due date: the offline loop runs on its own.
--   slip      done: signed working days from due to completed_on (negative = early). Open: at least
--             the slip carried from the milestone before (milestones run one after the other), and
--             overdue (as_of after due) -> working days from due to as_of, forecast_due after due ->
--             working days from due to the forecast. The project's slip is the last milestone's;
--             projected_end = end_date + that many working days.
--   risks     blocked -> high; overdue -> high above 5 working days, else medium; forecast slip ->
--             medium; not started and due within 2 working days -> medium; done late -> low; done
--             with checks still open -> low (QA will fail them).
--   status    delivered (all milestones done) > blocked > late (open and slipping) > at_risk (a
--             medium or high risk) > on_track.
--   summary   one line: "PRJ-acme-17: delivered, 7/7 milestones done, 0 days slip", or for an open project
--             "PRJ-acme-17: late, 2/3 milestones done, 2 working days slip, projected end 2026-04-02".
-- llm.chat writes the internal narrative and the client update (templates/status_report.txt); the
-- status never depends on it. When every milestone is done, handoffs/delivery_to_qa.lua hands the
-- deliverables to QA.

---------------------------------------------------------------------------
-- the working_days rule (tools/working_days.lua; tests/scripts/domains_test.lua keeps them equal)

local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = (z >= 0 and z or z - 146096) // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp + (mp < 10 and 3 or -9)
  return m <= 2 and y + 1 or y, m, d
end

local function parse(s)
  local y, m, d = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then error("not an ISO date (YYYY-MM-DD): " .. tostring(s), 0) end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  local n = days_from_civil(y, m, d)
  local y2, m2, d2 = civil_from_days(n)
  if y2 ~= y or m2 ~= m or d2 ~= d then error("no such date: " .. s, 0) end
  return n
end

local function format(n)
  local y, m, d = civil_from_days(n)
  return string.format("%04d-%02d-%02d", y, m, d)
end

local function holiday_set(list)
  local set = {}
  for _, h in ipairs(type(list) == "table" and list or {}) do set[parse(h)] = true end
  return set
end

local function is_working(n, hol)
  local wd = (n + 4) % 7 -- 1970-01-01 was a Thursday; 0 = Sunday, 6 = Saturday
  return wd ~= 0 and wd ~= 6 and not hol[n]
end

local function add(date, days, holidays)
  local hol, n = holiday_set(holidays), parse(date)
  while not is_working(n, hol) do n = n + 1 end
  for _ = 1, days do
    repeat n = n + 1 until is_working(n, hol)
  end
  return format(n)
end

local function between(from, to, holidays)
  local hol, a, b = holiday_set(holidays), parse(from), parse(to)
  local sign = 1
  if b < a then a, b, sign = b, a, -1 end
  local count = 0
  for n = a + 1, b do
    if is_working(n, hol) then count = count + 1 end
  end
  return sign * count
end

---------------------------------------------------------------------------

local function str(v) return type(v) == "string" and v ~= "" and v or nil end

local function strings(list)
  local out = {}
  for _, v in ipairs(type(list) == "table" and list or {}) do
    if type(v) == "string" and v ~= "" then out[#out + 1] = v end
  end
  return out
end

local function union(a, b)
  local out, seen = {}, {}
  for _, list in ipairs({ a, b }) do
    for _, v in ipairs(strings(list)) do
      if not seen[v] then seen[v] = true; out[#out + 1] = v end
    end
  end
  return out
end

local function missing_checks(m)
  local done, out = {}, {}
  for _, c in ipairs(strings(m.checks_done)) do done[c] = true end
  for _, c in ipairs(strings(m.checks)) do
    if not done[c] then out[#out + 1] = c end
  end
  return out
end

local function copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = copy(v) end
  return c
end

local SEVERITY = { low = 1, medium = 2, high = 3 }

-- Pure: the tracking, without the words. input = the task input (validated); today = the default as_of.
local function track(input, today)
  local hol = input.holidays
  local mode = input.mode or "track"
  local as_of = str(input.as_of) or today
  local milestones, by_id = {}, {}
  for i, m in ipairs(input.milestones) do
    local c = copy(m)
    c.status = str(c.status) or "planned"
    c.checks = strings(c.checks)
    c.checks_done = strings(c.checks_done)
    milestones[i], by_id[c.id] = c, c
  end

  local ignored = {}
  for i, u in ipairs(type(input.updates) == "table" and input.updates or {}) do
    local m, why = by_id[u.milestone], nil
    if m == nil then
      why = "no milestone " .. tostring(u.milestone) .. " in the plan"
    elseif m.status == "done" and u.status ~= "done" then
      why = m.id .. " is done already: it cannot go back to " .. u.status
    elseif u.status == "done" and str(u.completed_on) and parse(u.completed_on) > parse(as_of) then
      why = "completed_on " .. u.completed_on .. " is after as_of " .. as_of
    end
    if why then
      ignored[#ignored + 1] = { index = i - 1, milestone = u.milestone, reason = why }
    else
      m.status = u.status
      if u.status == "done" then m.completed_on = str(u.completed_on) or m.completed_on or as_of end
      if str(u.forecast_due) then m.forecast_due = u.forecast_due end
      m.checks_done = union(m.checks_done, u.checks_done)
      if str(u.note) then m.note = u.note end
    end
  end

  if mode == "simulate" then
    for _, m in ipairs(milestones) do
      if m.status ~= "done" then
        m.status, m.completed_on, m.checks_done = "done", m.due, union(m.checks_done, m.checks)
        if parse(m.due) > parse(as_of) then as_of = m.due end
      end
    end
  end

  local risks, carry, done_count, blocked = {}, 0, 0, false
  local order = {} -- risk -> the order it was found in, for a stable sort
  local function risk(m, severity, text)
    local r = { milestone = m.id, severity = severity, risk = text }
    risks[#risks + 1] = r
    order[r] = #risks
  end
  for _, m in ipairs(milestones) do
    m.forecast_due = str(m.forecast_due)
    if m.status == "done" then
      done_count = done_count + 1
      m.slip_days = between(m.due, m.completed_on, hol)
      carry = math.max(0, m.slip_days)
      if m.slip_days > 0 then risk(m, "low", string.format("%s %s was delivered %d working days late", m.id, m.name, m.slip_days)) end
      local open = missing_checks(m)
      if #open > 0 then
        risk(m, "low", string.format("%s %s is done with checks still open: %s", m.id, m.name, table.concat(open, ", ")))
      end
    else
      local own = 0
      local overdue = between(m.due, as_of, hol)
      if overdue > 0 then
        own = overdue
        risk(m, overdue > 5 and "high" or "medium",
          string.format("%s %s is %d working days overdue (due %s)", m.id, m.name, overdue, m.due))
      end
      if m.forecast_due then
        local f = between(m.due, m.forecast_due, hol)
        if f > 0 then
          own = math.max(own, f)
          risk(m, "medium", string.format("%s %s is forecast %d working days late (%s)", m.id, m.name, f, m.forecast_due))
        end
      end
      if m.status == "blocked" then
        blocked = true
        risk(m, "high", string.format("%s %s is blocked%s", m.id, m.name, m.note and (": " .. m.note) or ""))
      elseif m.status == "planned" and overdue <= 0 then
        local left = between(as_of, m.due, hol)
        if left <= 2 and carry == 0 then
          risk(m, "medium", string.format("%s %s has not started and is due in %d working days", m.id, m.name, left))
        end
      end
      m.slip_days = math.max(own, carry)
      if m.slip_days > 0 then m.projected_due = add(m.due, m.slip_days, hol) end
      carry = m.slip_days
    end
  end

  local all_done = done_count == #milestones
  local top = 0
  for _, r in ipairs(risks) do top = math.max(top, SEVERITY[r.severity]) end
  local status = (all_done and "delivered") or (blocked and "blocked") or (carry > 0 and "late")
    or (top >= SEVERITY.medium and "at_risk") or "on_track"

  local project = copy(input.project)
  local last_due = milestones[#milestones].due
  local end_date = str(project.end_date) or last_due
  project.slip_days = carry
  project.projected_end = carry > 0 and add(end_date, carry, hol) or end_date
  project.status = all_done and "delivered" or "in_delivery"
  table.sort(risks, function(a, b)
    if SEVERITY[a.severity] ~= SEVERITY[b.severity] then return SEVERITY[a.severity] > SEVERITY[b.severity] end
    return order[a] < order[b]
  end)
  local parts = { string.format("%s: %s, %d/%d milestones done, %s", str(project.id) or str(project.name) or "project",
    status, done_count, #milestones, carry > 0 and string.format("%d working days slip", carry) or "0 days slip") }
  if not all_done then parts[#parts + 1] = "projected end " .. project.projected_end end
  local high = 0
  for _, r in ipairs(risks) do high = high + (r.severity == "high" and 1 or 0) end
  if high > 0 then parts[#parts + 1] = string.format("%d high risk%s", high, high == 1 and "" or "s") end
  if #ignored > 0 then
    parts[#parts + 1] = string.format("%d update%s ignored", #ignored, #ignored == 1 and "" or "s")
  end
  return {
    summary = table.concat(parts, ", "),
    project = project,
    milestones = milestones,
    status = status,
    all_done = all_done,
    progress = { done = done_count, total = #milestones },
    slip_days = carry,
    on_time = carry <= 0,
    projected_end = project.projected_end,
    as_of = as_of,
    mode = mode,
    simulated = mode == "simulate" or nil,
    risks = #risks > 0 and risks or nil,
    ignored_updates = #ignored > 0 and ignored or nil,
    holidays = type(hol) == "table" and #hol > 0 and hol or nil,
  }
end

local REPORT_SCHEMA = {
  type = "object",
  required = { "summary", "client_update" },
  properties = {
    summary = { type = "string", minLength = 10, maxLength = 800 },
    client_update = { type = "string", minLength = 10, maxLength = 800 },
  },
}

local agent = {
  name = "Delivery Tracker",
  capabilities = { "delivery_tracking", "risk_management" },
  tools = { "working_days" },
  track = track, between = between, -- pure, for tests
}

function agent.run(task, ctx)
  local input = task.input
  if type(input) ~= "table" or type(input.project) ~= "table" or type(input.milestones) ~= "table"
      or #input.milestones == 0 then
    error("delivery_tracker: task.input needs project and milestones")
  end
  local ok, r = pcall(track, input, time.iso():sub(1, 10))
  if not ok then error("delivery_tracker: " .. tostring(r)) end

  local rows, risk_rows = {}, {}
  for _, m in ipairs(r.milestones) do
    rows[#rows + 1] = string.format("- %s %s (%s): %s, due %s%s", m.id, m.name, tostring(m.owner or m.owner_role or "-"),
      m.status, m.due, m.slip_days ~= 0 and string.format(", slip %+d working days", m.slip_days) or "")
  end
  for _, x in ipairs(r.risks or {}) do risk_rows[#risk_rows + 1] = "- [" .. x.severity .. "] " .. x.risk end
  local ok2, reply = pcall(llm.chat, {
    system = "You are a delivery lead at a digital agency reporting project status. Be factual and brief.",
    prompt = ctx.template("status_report", {
      project = { name = tostring(r.project.name), client = tostring(r.project.client) },
      as_of = r.as_of, status = r.status, done = tostring(r.progress.done), total = tostring(r.progress.total),
      projected_end = r.projected_end,
      slip = r.slip_days > 0 and string.format("%d working days late", r.slip_days) or "on time",
      milestones = table.concat(rows, "\n"),
      risks = #risk_rows > 0 and table.concat(risk_rows, "\n") or "- none",
    }),
    schema = REPORT_SCHEMA,
    max_tokens = 500,
  })
  if ok2 then
    r.narrative, r.client_update = reply.data.summary, reply.data.client_update
  elseif type(reply) == "table" and reply.retryable then
    error(reply)
  else
    log.warn("delivery_tracker: no report from the model", type(reply) == "table" and reply.code or tostring(reply))
  end

  if str(r.project.id) then
    memory.set("project:" .. r.project.id, { status = r.project.status, delivery = r.status, slip_days = r.slip_days,
                                             projected_end = r.projected_end, as_of = r.as_of, at = time.now() })
  end
  log.info("tracked project", tostring(r.project.id), r.status, r.progress.done .. "/" .. r.progress.total)
  return r
end

return agent
