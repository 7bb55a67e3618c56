-- Lead Scorer: ONE inbound lead -> an MQL score 0-100 with the reasons (marketing.score_lead).
-- A lead scoring at least the MQL threshold (config.lua mql_threshold, 60) is qualified and the
-- Marketing -> Sales handoff (handoffs/to_sales.lua) sends it to sales.qualify_lead.
--
-- Deterministic rules. The ideal customer profile (ICP) is the campaign brief's persona for the
-- lead's offer (memory brief:<offer slug>, written by the campaign planner); without one the fit
-- rules fall back to neutral points.
--   FIT (max 50)
--     industry   in the ICP's industries 15; another industry 3; no ICP but given 8; missing 0
--     size       employees in the ICP's size band 15; the next band 8; other 0; no ICP: 11+ employees 8,
--                fewer 3; missing 0
--     authority  from the title: decision maker 12, influencer 8, user 3, unknown 0
--     budget     >= the entry tier price 8; >= half of it 4; no price known: >= 10,000 8, >= 5,000 4
--     a personal email address (gmail.com, ...) -10, not below 0
--   ENGAGEMENT (max 50): demo requested 20, pricing page viewed 10, webinar attended 8, downloads 4
--     each (max 8), email clicks 2 each (max 6), opens 1 each (max 4), page views 1 each (max 5);
--     times recency: last activity <= 7 days x1, <= 30 x0.8, <= 90 x0.5, older x0.25 (rounded down)
--   score = fit + engagement; grade A >= 80, B >= 60, C >= 40, else D.
-- For a qualified lead llm.chat writes a one-paragraph note for the sales rep (optional: a failed
-- call leaves it out). The lead's need (for BANT) is taken from the input, else derived from the
-- engagement: demo -> high, pricing page or webinar -> medium, other activity -> low.

local DEFAULT_THRESHOLD = 60 -- when config.lua (ctx.config) has no mql_threshold
local BANDS = { { 10, "1-10" }, { 50, "11-50" }, { 200, "51-200" }, { 1000, "201-1000" }, { math.huge, "1000+" } }
local BAND_INDEX = { ["1-10"] = 1, ["11-50"] = 2, ["51-200"] = 3, ["201-1000"] = 4, ["1000+"] = 5 }
local AUTHORITY_POINTS = { decision_maker = 12, influencer = 8, user = 3, unknown = 0 }
-- checked in order; whole words of the lower-cased title
local TITLES = {
  { "chief", "decision_maker" }, { "ceo", "decision_maker" }, { "cto", "decision_maker" },
  { "cmo", "decision_maker" }, { "cfo", "decision_maker" }, { "coo", "decision_maker" },
  { "cro", "decision_maker" }, { "founder", "decision_maker" }, { "co%-founder", "decision_maker" },
  { "owner", "decision_maker" }, { "president", "decision_maker" },
  { "vp", "decision_maker" }, { "vice president", "decision_maker" }, { "managing director", "decision_maker" },
  { "general manager", "decision_maker" }, { "head of", "decision_maker" },
  { "director", "influencer" }, { "manager", "influencer" }, { "team lead", "influencer" },
  { "%f[%w]lead%s*$", "influencer", raw = true }, -- "Marketing Lead", not "Lead Generation Specialist"
  { "partner", "decision_maker" }, -- after manager: "Partner Manager" is an influencer
  { "principal", "influencer" }, { "senior", "influencer" },
}
local PERSONAL = { "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "icloud.com",
                   "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "gmx.de", "mail.com", "yandex.com" }

local function fail(msg) error("lead_scorer: " .. msg, 2) end

local function num(x)
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return string.format("%.14g", x)
end

local function count(x) return type(x) == "number" and x > 0 and math.floor(x) or 0 end

local function word_in(text, phrase) return text:find("%f[%w]" .. phrase .. "%f[%W]") ~= nil end

local function authority_of(title)
  if type(title) ~= "string" or title == "" then return "unknown" end
  local t = title:lower()
  for _, rule in ipairs(TITLES) do
    if (rule.raw and t:find(rule[1])) or (not rule.raw and word_in(t, rule[1])) then return rule[2] end
  end
  return "user"
end

local function band_of(employees)
  for _, b in ipairs(BANDS) do
    if employees <= b[1] then return b[2] end
  end
end

local function personal_email(email)
  local domain = email:lower():match("@(.+)$") or ""
  for _, d in ipairs(PERSONAL) do
    if domain == d then return true end
  end
  return false
end

local function industry_match(industry, list)
  local a = industry:lower()
  for _, x in ipairs(list) do
    local b = tostring(x):lower()
    if a == b or a:find(b, 1, true) or b:find(a, 1, true) then return true end
  end
  return false
end

-- Pure: lead (task input) + icp (or nil) + threshold -> the score and its reasons.
local function score_lead(lead, icp, threshold)
  local fit, reasons_fit = 0, {}
  local function add_fit(pts, why)
    fit = fit + pts
    reasons_fit[#reasons_fit + 1] = string.format("%s: %+d", why, pts)
  end
  local industries = icp and type(icp.industries) == "table" and #icp.industries > 0 and icp.industries or nil
  if type(lead.industry) ~= "string" or lead.industry == "" then
    add_fit(0, "industry missing")
  elseif industries then
    if industry_match(lead.industry, industries) then add_fit(15, "industry " .. lead.industry .. " in the ICP")
    else add_fit(3, "industry " .. lead.industry .. " outside the ICP") end
  else
    add_fit(8, "industry " .. lead.industry .. " (no ICP to compare)")
  end

  local icp_band = icp and BAND_INDEX[icp.company_size]
  if type(lead.employees) ~= "number" or lead.employees < 1 then
    add_fit(0, "company size missing")
  else
    local band = band_of(lead.employees)
    local e = num(lead.employees)
    if icp_band then
      local d = math.abs(BAND_INDEX[band] - icp_band)
      if d == 0 then add_fit(15, string.format("%s employees in the ICP band %s", e, icp.company_size))
      elseif d == 1 then add_fit(8, string.format("%s employees next to the ICP band %s", e, icp.company_size))
      else add_fit(0, string.format("%s employees far from the ICP band %s", e, icp.company_size)) end
    elseif lead.employees >= 11 then
      add_fit(8, e .. " employees (no ICP to compare)")
    else
      add_fit(3, e .. " employees, a micro business")
    end
  end

  local authority = authority_of(lead.title)
  add_fit(AUTHORITY_POINTS[authority], string.format("title %s -> %s", type(lead.title) == "string" and
    string.format("%q", lead.title) or "missing", authority))

  local entry = icp and type(icp.entry_price) == "number" and icp.entry_price or nil
  if type(lead.budget) ~= "number" then
    add_fit(0, "budget missing")
  elseif entry then
    if lead.budget >= entry then add_fit(8, string.format("budget %s >= entry price %s", num(lead.budget), num(entry)))
    elseif lead.budget >= entry / 2 then
      add_fit(4, string.format("budget %s >= half the entry price %s", num(lead.budget), num(entry)))
    else add_fit(0, string.format("budget %s < half the entry price %s", num(lead.budget), num(entry))) end
  else
    if lead.budget >= 10000 then add_fit(8, "budget " .. num(lead.budget) .. " >= 10000")
    elseif lead.budget >= 5000 then add_fit(4, "budget " .. num(lead.budget) .. " >= 5000")
    else add_fit(0, "budget " .. num(lead.budget) .. " < 5000") end
  end

  if type(lead.email) == "string" and personal_email(lead.email) then
    local cut = math.min(10, fit)
    add_fit(-cut, "personal email address")
  end

  local eng = type(lead.engagement) == "table" and lead.engagement or {}
  local raw, reasons_eng = 0, {}
  local function add_eng(pts, why)
    if pts > 0 then
      raw = raw + pts
      reasons_eng[#reasons_eng + 1] = string.format("%s: %+d", why, pts)
    end
  end
  if eng.demo_requested == true then add_eng(20, "demo requested") end
  if count(eng.pricing_page_views) > 0 then add_eng(10, "pricing page viewed") end
  if eng.webinar_attended == true then add_eng(8, "webinar attended") end
  add_eng(math.min(8, 4 * count(eng.content_downloads)), count(eng.content_downloads) .. " downloads")
  add_eng(math.min(6, 2 * count(eng.email_clicks)), count(eng.email_clicks) .. " email clicks")
  add_eng(math.min(4, count(eng.email_opens)), count(eng.email_opens) .. " email opens")
  add_eng(math.min(5, count(eng.page_views)), count(eng.page_views) .. " page views")
  local mult, days = 1, eng.last_activity_days
  if type(days) == "number" then
    mult = (days <= 7 and 1) or (days <= 30 and 0.8) or (days <= 90 and 0.5) or 0.25
    if mult < 1 then reasons_eng[#reasons_eng + 1] = string.format("last activity %s days ago: x%s", num(days), num(mult)) end
  end
  local engagement = math.min(50, math.floor(raw * mult))
  if raw * mult > 50 then reasons_eng[#reasons_eng + 1] = "engagement capped at 50" end
  if #reasons_eng == 0 then reasons_eng[1] = "no engagement recorded: +0" end

  local score = fit + engagement
  local grade = (score >= 80 and "A") or (score >= 60 and "B") or (score >= 40 and "C") or "D"
  local need = lead.need
  if need == nil then
    if eng.demo_requested == true then need = "high"
    elseif count(eng.pricing_page_views) > 0 or eng.webinar_attended == true then need = "medium"
    elseif raw > 0 then need = "low" end
  end
  local reasons = {}
  for _, r in ipairs(reasons_fit) do reasons[#reasons + 1] = r end
  for _, r in ipairs(reasons_eng) do reasons[#reasons + 1] = r end
  return {
    score = score, qualified = score >= threshold, threshold = threshold, grade = grade,
    fit = { score = fit, reasons = reasons_fit }, engagement = { score = engagement, reasons = reasons_eng },
    reasons = reasons, authority = authority, need = need, icp_used = icp ~= nil,
  }
end

local NOTE_SCHEMA = { type = "object", required = { "note" },
                      properties = { note = { type = "string", minLength = 1, maxLength = 600 } } }

local agent = {
  name = "Lead Scorer",
  capabilities = { "lead_scoring", "mql" },
  tools = {},
  score_lead = score_lead, authority_of = authority_of, -- pure, for tests
}

function agent.run(task, ctx)
  local lead = task.input
  if type(lead) ~= "table" then fail("input must be an object (one lead)") end
  if type(lead.email) ~= "string" or not lead.email:find("^[^@%s]+@[^@%s]+%.[^@%s]+$") then
    fail("input.email is required (a valid email address)")
  end
  if type(lead.company) ~= "string" or lead.company == "" then fail("input.company is required") end
  local cfg = type(ctx.config) == "table" and ctx.config or {}
  local threshold = type(cfg.mql_threshold) == "number" and cfg.mql_threshold or DEFAULT_THRESHOLD

  local offer = type(lead.offer) == "table" and lead.offer or nil
  local icp = offer and type(offer.slug) == "string" and memory.get("brief:" .. offer.slug) or nil
  local r = score_lead(lead, icp, threshold)

  if r.qualified then
    local ok, reply = pcall(llm.chat, {
      system = "You brief B2B sales reps on inbound leads in three sentences: who, why now, what to open with.",
      prompt = ctx.template("lead_note", {
        lead = { name = tostring(lead.name or "(no name)"), title = tostring(lead.title or "(no title)"),
                 company = lead.company, industry = tostring(lead.industry or "(unknown industry)") },
        offer = offer and tostring(offer.name or offer.slug) or "our services",
        score = tostring(r.score), grade = r.grade,
        reasons = "- " .. table.concat(r.reasons, "\n- "),
        notes = type(lead.notes) == "string" and lead.notes ~= "" and lead.notes or "(none)",
      }),
      schema = NOTE_SCHEMA,
      max_tokens = 300,
    })
    if ok then r.note = reply.data.note
    else log.warn("lead_scorer: no note:", type(reply) == "table" and reply.code or tostring(reply)) end
  end

  for _, k in ipairs({ "email", "company", "name", "title", "industry", "employees", "country", "budget",
                       "timeline_days", "notes", "source" }) do
    r[k] = lead[k]
  end
  r.offer, r.campaign = offer, lead.campaign
  r.summary = string.format("%s (%s): MQL score %d, grade %s, %s", lead.email, lead.company, r.score, r.grade,
    r.qualified and "qualified -> sales" or string.format("under %s, not qualified", tostring(math.tointeger(threshold) or threshold)))
  memory.set("lead:" .. lead.email:lower(), { score = r.score, grade = r.grade, qualified = r.qualified,
                                              offer = offer and offer.slug or nil, at = time.now() })
  log.info("scored lead", lead.email, r.score, r.grade)
  return r
end

return agent
