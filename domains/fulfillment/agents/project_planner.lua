-- Project Planner: a won deal -> a project plan (fulfillment.plan_project, the entry of the domain,
-- handed over by sales/handoffs/won_to_fulfillment.lua).
--
-- Deterministic (rules):
--   start     input.start_date, else the first working day after the deal was signed.
--   milestones  M1 kickoff and discovery (2 working days, account manager), then one milestone per
--             deliverable, in the deal's order, one after the other. A deliverable's size is its share
--             of the delivery budget / day_rate (config.lua, 1000 a day), rounded up, 2 to 30 working
--             days; its owner's role comes from its words (a site or page -> developer, design ->
--             designer, articles or copy -> content lead, a dashboard, report or audit -> data analyst,
--             a campaign, channel or strategy -> marketing lead, else the delivery lead); input.team maps a
--             role to a person. Then the QA window (2 working days, QA lead) and the handover (1 working
--             day, account manager). Dates skip weekends and input.holidays
--             (tools/working_days.lua, called with ctx.tool).
--   checks    each deliverable's acceptance checklist: acceptance_criteria, peer_review,
--             client_sign_off, documentation, plus its role's (cross_browser_test, proofread, ...).
--   budget    kickoff 5%, delivery 70% (split evenly over the deliverables), QA 10%, handover 5%,
--             contingency 10% (config.lua budget_split); in cents, the rounding goes to contingency.
--   summary   one line: "PRJ-acme-2: 7 milestones 2026-03-11 to 2026-05-08, budget 8000 USD" (the project id,
--             as in the tracking and QA summaries; the end date is the handover's).
-- llm.chat writes the plan's narrative and the main risks (templates/project_plan.txt).

local DEFAULTS = {                        -- = config.lua
  day_rate = 1000,
  budget_split = { kickoff = 0.05, delivery = 0.70, qa = 0.10, handover = 0.05, contingency = 0.10 },
}
local KICKOFF_DAYS, QA_DAYS, HANDOVER_DAYS, MIN_DAYS, MAX_DAYS = 2, 2, 1, 2, 30

-- Every deliverable's checklist starts with these (agents/qa_reviewer.lua requires them too).
local STANDARD_CHECKS = { "acceptance_criteria", "peer_review", "client_sign_off", "documentation" }

local ROLES = { -- first match wins; Lua patterns on the lower-cased deliverable
  { "developer", { "%f[%a]web", "%f[%a]site", "%f[%a]apps?%f[%A]", "%f[%a]develop", "%f[%a]integrat",
                   "%f[%a]automation", "%f[%a]landing", "%f[%a]pages?%f[%A]", "%f[%a]api%f[%A]", "%f[%a]build" } },
  { "designer", { "%f[%a]design", "%f[%a]brand", "%f[%a]logo", "%f[%a]ui%f[%A]", "%f[%a]ux%f[%A]", "%f[%a]visual" } },
  { "content_lead", { "%f[%a]content", "%f[%a]article", "%f[%a]copy", "%f[%a]blog", "%f[%a]posts?%f[%A]",
                      "%f[%a]emails?%f[%A]", "%f[%a]newsletter", "%f[%a]video" } },
  { "data_analyst", { "%f[%a]dashboard", "%f[%a]report", "%f[%a]analytic", "%f[%a]tracking", "%f[%a]audit" } },
  { "marketing_lead", { "%f[%a]campaign", "%f[%a]ads?%f[%A]", "%f[%a]paid", "%f[%a]channel", "%f[%a]strateg",
                        "%f[%a]seo%f[%A]", "%f[%a]social", "%f[%a]plan%f[%A]" } },
}
local ROLE_CHECKS = {
  developer = { "cross_browser_test", "performance_check" },
  designer = { "brand_guidelines_check" },
  content_lead = { "proofread", "seo_check" },
  data_analyst = { "data_validated" },
  marketing_lead = { "tracking_in_place" },
  delivery_lead = {},
}

-- The working_days rule, from tools/working_days.lua through ctx.tool (the one copy of the rule):
-- add(date, days, holidays) = the date `days` working days after `date`.
local function working_days_add(ctx)
  return function(date, days, holidays)
    return ctx.tool("working_days", { op = "add", date = date, days = days, holidays = holidays }).result
  end
end

local function money(x)
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return string.format("%.2f", x)
end

local function cents(x) return math.floor(x * 100 + 0.5) end
local function from_cents(c) return math.tointeger(c / 100) or c / 100 end

local function str(v) return type(v) == "string" and v ~= "" and v or nil end

local function slugify(s)
  local slug = s:lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  return slug:sub(1, 40)
end

local function role_of(deliverable)
  local text = deliverable:lower()
  for _, r in ipairs(ROLES) do
    for _, p in ipairs(r[2]) do
      if text:find(p) then return r[1] end
    end
  end
  return "delivery_lead"
end

local function checks_for(role)
  local list = {}
  for _, c in ipairs(STANDARD_CHECKS) do list[#list + 1] = c end
  for _, c in ipairs(ROLE_CHECKS[role] or {}) do list[#list + 1] = c end
  return list
end

local function settings(input, ctx)
  local cfg = type(ctx) == "table" and type(ctx.config) == "table" and ctx.config or {}
  local split = type(cfg.budget_split) == "table" and cfg.budget_split or DEFAULTS.budget_split
  local rate = type(input.day_rate) == "number" and input.day_rate
    or type(cfg.day_rate) == "number" and cfg.day_rate or DEFAULTS.day_rate
  return { day_rate = rate, split = split }
end

-- The plan, without the words. input = the task input (validated); add = working_days_add(ctx).
local function plan(input, cfg, add)
  local deal = input.deal
  local holidays = input.holidays
  local team = type(input.team) == "table" and input.team or {}
  local function owner(role) return str(team[role]) or role end
  local value_c = cents(deal.value)
  local n = #deal.deliverables
  local start = str(input.start_date) or add(deal.signed_on, 1, holidays)
  start = add(start, 0, holidays) -- a weekend or holiday start moves to the next working day

  local kickoff_c = cents(deal.value * cfg.split.kickoff)
  local delivery_c = cents(deal.value * cfg.split.delivery)
  local qa_c = cents(deal.value * cfg.split.qa)
  local handover_c = cents(deal.value * cfg.split.handover)
  local per_c = delivery_c // n
  local shares = {}
  for i = 1, n do shares[i] = per_c end
  shares[n] = delivery_c - per_c * (n - 1)

  local milestones, day = {}, start
  local function schedule(m, days)
    m.start = day
    m.due = add(day, days - 1, holidays)
    m.working_days = days
    day = add(m.due, 1, holidays)
    milestones[#milestones + 1] = m
    return m
  end
  schedule({ id = "M1", name = "Kickoff and discovery", kind = "kickoff", owner_role = "account_manager",
             owner = owner("account_manager"), budget = from_cents(kickoff_c), checks = { "kickoff_held", "scope_confirmed" },
             status = "planned" }, KICKOFF_DAYS)
  for i, d in ipairs(deal.deliverables) do
    local role = role_of(d)
    local days = math.ceil(shares[i] / 100 / cfg.day_rate - 1e-9)
    days = math.max(MIN_DAYS, math.min(MAX_DAYS, days))
    schedule({ id = "M" .. (i + 1), name = d, kind = "deliverable", deliverable = d, owner_role = role,
               owner = owner(role), budget = from_cents(shares[i]), checks = checks_for(role), status = "planned" }, days)
  end
  local qa = { owner_role = "qa_lead", owner = owner("qa_lead"), budget = from_cents(qa_c) }
  qa.start = day
  qa.due = add(day, QA_DAYS - 1, holidays)
  qa.working_days = QA_DAYS
  day = add(qa.due, 1, holidays)
  local handover = { owner_role = "account_manager", owner = owner("account_manager"), budget = from_cents(handover_c),
                     start = day, due = add(day, HANDOVER_DAYS - 1, holidays), working_days = HANDOVER_DAYS }

  local contingency_c = value_c - kickoff_c - delivery_c - qa_c - handover_c
  local lines = { { item = "Kickoff and discovery", amount = from_cents(kickoff_c) } }
  for i, d in ipairs(deal.deliverables) do lines[#lines + 1] = { item = d, amount = from_cents(shares[i]) } end
  lines[#lines + 1] = { item = "QA review", amount = from_cents(qa_c) }
  lines[#lines + 1] = { item = "Handover", amount = from_cents(handover_c) }
  lines[#lines + 1] = { item = "Contingency", amount = from_cents(contingency_c) }

  local id = "PRJ-" .. ((str(deal.id) and deal.id:gsub("^D%-", "")) or
    (slugify(deal.client) .. "-" .. deal.signed_on:gsub("%-", "")))
  local offer = nil
  if str(deal.offer) or str(deal.offer_slug) then
    offer = { name = str(deal.offer), slug = str(deal.offer_slug), version = math.tointeger(deal.offer_version),
              tier = str(deal.tier) }
  end
  local currency = str(deal.currency) or "USD"
  return {
    summary = string.format("%s: %d milestones %s to %s, budget %s %s", id, #milestones, start, handover.due,
      money(deal.value), currency),
    project = {
      id = id,
      name = deal.client .. ": " .. (str(deal.offer) or "project") .. (str(deal.tier) and (" (" .. deal.tier .. ")") or ""),
      client = deal.client,
      contact_email = deal.contact_email,
      contact_name = str(deal.contact_name),
      owner = owner("account_manager"),
      deal_id = str(deal.id),
      offer = offer,
      currency = str(deal.currency) or "USD",
      budget = deal.value,
      deliverables = deal.deliverables,
      start_date = start,
      end_date = handover.due,
      status = "planned",
    },
    milestones = milestones,
    qa = qa,
    handover = handover,
    holidays = type(holidays) == "table" and #holidays > 0 and holidays or nil,
    budget = { total = deal.value, currency = str(deal.currency) or "USD", day_rate = cfg.day_rate,
               lines = lines, contingency = from_cents(contingency_c) },
  }
end

local RISKS_SCHEMA = {
  type = "object",
  required = { "summary", "risks" },
  properties = {
    summary = { type = "string", minLength = 20, maxLength = 1200 },
    risks = {
      type = "array", minItems = 1, maxItems = 4,
      items = {
        type = "object",
        required = { "risk", "mitigation", "severity" },
        properties = {
          risk = { type = "string", minLength = 5, maxLength = 300 },
          mitigation = { type = "string", minLength = 5, maxLength = 300 },
          severity = { type = "string", enum = { "low", "medium", "high" } },
        },
      },
    },
  },
}

local agent = {
  name = "Project Planner",
  capabilities = { "project_planning", "scheduling", "budgeting" },
  tools = { "working_days" },
  plan = plan, role_of = role_of, -- for tests
  DEFAULTS = DEFAULTS, STANDARD_CHECKS = STANDARD_CHECKS,
}

function agent.run(task, ctx)
  local input = task.input
  local deal = type(input) == "table" and input.deal or nil
  if type(deal) ~= "table" or not str(deal.client) or type(deal.value) ~= "number" or deal.value <= 0
      or not str(deal.signed_on) or type(deal.deliverables) ~= "table" or #deal.deliverables == 0 then
    error("project_planner: task.input.deal needs client, value > 0, signed_on and deliverables")
  end
  local cfg = settings(input, ctx)
  local ok, p = pcall(plan, input, cfg, working_days_add(ctx))
  if not ok then error("project_planner: " .. tostring(p)) end

  local rows = {}
  for _, m in ipairs(p.milestones) do
    rows[#rows + 1] = string.format("- %s %s: %s to %s, %d working days, %s (%s %s)", m.id, m.name, m.start, m.due,
      m.working_days, m.owner, money(m.budget), p.project.currency)
  end
  rows[#rows + 1] = string.format("- QA review: %s to %s, %s", p.qa.start, p.qa.due, p.qa.owner)
  rows[#rows + 1] = string.format("- Handover: %s, %s", p.handover.due, p.handover.owner)
  local ok2, reply = pcall(llm.chat, {
    system = "You are a delivery lead at a digital agency. Plain words; name concrete risks.",
    prompt = ctx.template("project_plan", {
      project = { name = p.project.name, client = p.project.client },
      budget = money(p.project.budget) .. " " .. p.project.currency,
      start_date = p.project.start_date,
      end_date = p.project.end_date,
      milestones = table.concat(rows, "\n"),
    }),
    schema = RISKS_SCHEMA,
    max_tokens = 700,
  })
  if ok2 then
    p.narrative, p.risks = reply.data.summary, reply.data.risks
  elseif type(reply) == "table" and reply.retryable then
    error(reply) -- transient: the queue retries
  else
    log.warn("project_planner: no narrative from the model", type(reply) == "table" and reply.code or tostring(reply))
  end

  memory.set("project:" .. p.project.id, { status = "planned", client = p.project.client, start_date = p.project.start_date,
                                           end_date = p.project.end_date, budget = p.project.budget, at = time.now() })
  log.info("planned project", p.project.id, #p.milestones, "milestones", p.project.start_date, p.project.end_date)
  return p
end

return agent
