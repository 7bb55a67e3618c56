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

-- The working_days rule, from tools/working_days.lua through ctx.tool (the one copy of the rule), for
-- one project's holidays: add(date, days), between(from, to) (working days), after(a, b) (a later date).
local function working_days(ctx, holidays)
  local function call(args)
    args.holidays = holidays
    return ctx.tool("working_days", args)
  end
  return {
    add = function(date, days) return call({ op = "add", date = date, days = days }).result end,
    between = function(from, to) return call({ op = "between", date = from, ["end"] = to }).working_days end,
    after = function(a, b) return call({ op = "between", date = b, ["end"] = a }).calendar_days > 0 end,
  }
end

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

-- The tracking, without the words. input = the task input (validated); today = the default as_of;
-- ctx for ctx.tool (the working_days rule).
local function track(input, today, ctx)
  local hol = input.holidays
  local wd = working_days(ctx, hol)
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
    elseif u.status == "done" and str(u.completed_on) and wd.after(u.completed_on, as_of) then
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
        if wd.after(m.due, as_of) then as_of = m.due end
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
      m.slip_days = wd.between(m.due, m.completed_on)
      carry = math.max(0, m.slip_days)
      if m.slip_days > 0 then risk(m, "low", string.format("%s %s was delivered %d working days late", m.id, m.name, m.slip_days)) end
      local open = missing_checks(m)
      if #open > 0 then
        risk(m, "low", string.format("%s %s is done with checks still open: %s", m.id, m.name, table.concat(open, ", ")))
      end
    else
      local own = 0
      local overdue = wd.between(m.due, as_of)
      if overdue > 0 then
        own = overdue
        risk(m, overdue > 5 and "high" or "medium",
          string.format("%s %s is %d working days overdue (due %s)", m.id, m.name, overdue, m.due))
      end
      if m.forecast_due then
        local f = wd.between(m.due, m.forecast_due)
        if f > 0 then
          own = math.max(own, f)
          risk(m, "medium", string.format("%s %s is forecast %d working days late (%s)", m.id, m.name, f, m.forecast_due))
        end
      end
      if m.status == "blocked" then
        blocked = true
        risk(m, "high", string.format("%s %s is blocked%s", m.id, m.name, m.note and (": " .. m.note) or ""))
      elseif m.status == "planned" and overdue <= 0 then
        local left = wd.between(as_of, m.due)
        if left <= 2 and carry == 0 then
          risk(m, "medium", string.format("%s %s has not started and is due in %d working days", m.id, m.name, left))
        end
      end
      m.slip_days = math.max(own, carry)
      if m.slip_days > 0 then m.projected_due = wd.add(m.due, m.slip_days) end
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
  project.projected_end = carry > 0 and wd.add(end_date, carry) or end_date
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
  track = track, -- for tests
}

function agent.run(task, ctx)
  local input = task.input
  if type(input) ~= "table" or type(input.project) ~= "table" or type(input.milestones) ~= "table"
      or #input.milestones == 0 then
    error("delivery_tracker: task.input needs project and milestones")
  end
  local ok, r = pcall(track, input, time.iso():sub(1, 10), ctx)
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
