-- Lead Qualifier: rule-based BANT scoring (budget, authority, need,
-- timeline) of a sales.qualify_lead input. No LLM call; deterministic.
--
-- Points: budget     >=50000 30, >=20000 25, >=10000 15, >=5000 8, else 0
--         authority  decision_maker 25, influencer 15, user 8, unknown 0
--         need       high 25, medium 15, low 5
--         timeline   <=30 days 20, <=90 12, <=180 6, longer 2
-- A missing (or null) field scores 0. score = sum (0..100);
-- qualified = score >= 60; tier = hot (>=80) / warm (>=60) / cold.
-- summary: one line, e.g. "Acme: BANT 95, hot, qualified" / "Tiny: BANT 15, cold, under 60, not qualified".

local QUALIFIED_AT, HOT_AT = 60, 80

local BUDGET_STEPS = { { 50000, 30 }, { 20000, 25 }, { 10000, 15 }, { 5000, 8 } }
local AUTHORITY_POINTS = { decision_maker = 25, influencer = 15, user = 8, unknown = 0 }
local NEED_POINTS = { high = 25, medium = 15, low = 5 }
local TIMELINE_STEPS = { { 30, 20 }, { 90, 12 }, { 180, 6 } }
local TIMELINE_LONG = 2

-- 20000.0 (cjson decodes numbers as floats) prints as "20000".
local function num(x)
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return string.format("%.14g", x)
end

local function is_number(x)
  return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge
end

local function score_budget(budget)
  if not is_number(budget) then return 0, "budget missing: +0" end
  for _, step in ipairs(BUDGET_STEPS) do
    if budget >= step[1] then
      return step[2], string.format("budget %s >= %s: +%d", num(budget), num(step[1]), step[2])
    end
  end
  local lowest = BUDGET_STEPS[#BUDGET_STEPS][1]
  return 0, string.format("budget %s < %s: +0", num(budget), num(lowest))
end

local function score_authority(authority)
  if type(authority) ~= "string" then return 0, "authority missing: +0" end
  local pts = AUTHORITY_POINTS[authority]
  if pts == nil then return 0, string.format("authority %q not recognised: +0", authority) end
  if pts == 0 then return 0, string.format("authority %s (no decision power known): +0", authority) end
  return pts, string.format("authority %s: +%d", authority, pts)
end

local function score_need(need)
  if type(need) ~= "string" then return 0, "need missing: +0" end
  local pts = NEED_POINTS[need]
  if pts == nil then return 0, string.format("need %q not recognised: +0", need) end
  return pts, string.format("need %s: +%d", need, pts)
end

local function score_timeline(days)
  if not is_number(days) or days < 0 then return 0, "timeline missing: +0" end
  for _, step in ipairs(TIMELINE_STEPS) do
    if days <= step[1] then
      return step[2], string.format("timeline %s days <= %s: +%d", num(days), num(step[1]), step[2])
    end
  end
  local longest = TIMELINE_STEPS[#TIMELINE_STEPS][1]
  return TIMELINE_LONG, string.format("timeline %s days > %s: +%d", num(days), num(longest), TIMELINE_LONG)
end

-- Pure scoring: lead table in, result table out (no globals touched).
local function score_lead(lead)
  lead = type(lead) == "table" and lead or {}
  local b, rb = score_budget(lead.budget)
  local a, ra = score_authority(lead.authority)
  local n, rn = score_need(lead.need)
  local t, rt = score_timeline(lead.timeline_days)
  local score = b + a + n + t
  local tier = (score >= HOT_AT and "hot") or (score >= QUALIFIED_AT and "warm") or "cold"
  local who = (type(lead.company) == "string" and lead.company ~= "" and lead.company)
    or (type(lead.email) == "string" and lead.email ~= "" and lead.email) or "lead"
  return {
    summary = string.format("%s: BANT %d, %s, %s", who, score, tier,
      score >= QUALIFIED_AT and "qualified" or string.format("under %d, not qualified", QUALIFIED_AT)),
    qualified = score >= QUALIFIED_AT,
    score = score,
    tier = tier,
    reasons = { rb, ra, rn, rt },
    breakdown = { budget = b, authority = a, need = n, timeline = t },
    email = lead.email,
    company = lead.company,
  }
end

local agent = {
  name = "Lead Qualifier",
  capabilities = { "lead_scoring", "qualification" },
  tools = {},
  score_lead = score_lead, -- exposed for tests/scripts/qualifier_test.lua
}

function agent.run(task, ctx)
  local lead = task.input
  if type(lead) ~= "table" or type(lead.email) ~= "string" or lead.email == "" then
    error("qualifier: task.input.email is required")
  end
  local result = score_lead(lead)
  memory.set("lead:" .. lead.email, {
    score = result.score,
    qualified = result.qualified,
    tier = result.tier,
    at = time.now(),
  })
  log.info("qualified lead", lead.email, result.score)
  return result
end

return agent
