-- Campaign Planner: an offer spec -> a marketing brief (marketing.plan_campaign, the entry of the
-- marketing domain and the target of the Offer -> Marketing handoff).
--
-- Deterministic (rules):
--   budget    input.budget, else 1.5 x the median tier price, at least 2,000 (config.lua `campaign`)
--   channels  the channel mix for the persona's company size, split by the agency's cost table
--             (tools/channel_budget.lua, called with ctx.tool): each channel's budget, cost per lead
--             and expected leads; channels under their minimum spend are dropped
--   calendar  ISO dates from the start date (input.start_date, else the next Monday; the dates from
--             tools/calendar.lua, called with ctx.tool), a fixed weekly cadence per channel (below),
--             topics rotating through the persona's pains and the deliverables
--   kpis      expected leads, blended cost per lead, target MQLs at the MQL threshold
-- llm.chat writes the campaign name, up to two secondary personas and the key messages.
-- Stores the ideal customer profile as brief:<offer slug> for the lead scorer.

-- Settings when config.lua (ctx.config: campaign.*, mql_threshold) leaves one out.
local DEFAULTS = { weeks = 4, budget_tier_multiple = 1.5, min_budget = 2000, mql_threshold = 60 }

-- Weekly cadence per channel: { day offset from the week's start, format } (week = 0-based).
local CADENCE = {
  linkedin_ads  = { { 1, "sponsored post" }, { 3, "sponsored post" } },
  content_seo   = { { 0, "blog article" } },
  email         = { { 2, "newsletter email" } },
  partnerships  = { { 2, "partner co-marketing post", every = 2 } },
  google_search = { { 0, "search ad group", first_week_only = true } },
  webinars      = { { 3, "webinar", once_at = "middle" } },
  events        = { { 2, "industry event", once_at = "second" } },
}

local function fail(msg) error("campaign_planner: " .. msg, 2) end

local function money(x)
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return string.format("%.2f", x)
end

local function round_up(x, step)
  local r = math.ceil(x / step - 1e-9) * step
  return math.tointeger(r) or r
end

-- "2026-03-02", also the date of a date-time; the dates themselves come from tools/calendar.lua.
local function date_of(s) return type(s) == "string" and s:match("^%d%d%d%d%-%d%d%-%d%d") or nil end

local function median(list)
  local xs = {}
  for _, v in ipairs(list) do xs[#xs + 1] = v end
  table.sort(xs)
  if #xs == 0 then return nil end
  local mid = (#xs + 1) // 2
  if #xs % 2 == 1 then return xs[mid] end
  return (xs[mid] + xs[mid + 1]) / 2
end

local function strings(list)
  local out = {}
  for _, v in ipairs(type(list) == "table" and list or {}) do
    if type(v) == "string" and v ~= "" then out[#out + 1] = v end
  end
  return out
end

local function settings(ctx)
  local c = type(ctx) == "table" and type(ctx.config) == "table" and ctx.config or {}
  local camp = type(c.campaign) == "table" and c.campaign or {}
  local s = {}
  for k, v in pairs(DEFAULTS) do
    local x = camp[k]
    if k == "mql_threshold" then x = c.mql_threshold end
    s[k] = type(x) == "number" and x or v
  end
  return s
end

local function check(input)
  if type(input) ~= "table" then fail("input must be an object") end
  local o = input.offer
  if type(o) ~= "table" then fail("input.offer is required (the offer spec)") end
  for _, k in ipairs({ "slug", "name" }) do
    if type(o[k]) ~= "string" or o[k] == "" then fail("input.offer." .. k .. " is required") end
  end
  if math.tointeger(o.version) == nil then fail("input.offer.version is required (an integer)") end
  if type(o.persona) ~= "table" or type(o.persona.role) ~= "string" then
    fail("input.offer.persona.role is required")
  end
  if type(o.tiers) ~= "table" or #o.tiers == 0 then fail("input.offer.tiers is required (a non-empty list)") end
  for i, t in ipairs(o.tiers) do
    if type(t) ~= "table" or type(t.price) ~= "number" or t.price <= 0 then
      fail(string.format("input.offer.tiers[%d].price must be a number > 0", i - 1))
    end
  end
  if input.start_date ~= nil and date_of(input.start_date) == nil then
    fail("input.start_date must be a date like 2026-03-02")
  end
end

-- Pure: the budget and the reason for it.
local function campaign_budget(input, s)
  if type(input.budget) == "number" and input.budget > 0 then
    return input.budget, "budget given: " .. money(input.budget)
  end
  local prices = {}
  for _, t in ipairs(input.offer.tiers) do prices[#prices + 1] = t.price end
  local mid = median(prices)
  local b = math.max(s.min_budget, round_up(mid * s.budget_tier_multiple, 500))
  return b, string.format("no budget given: %s x the median tier price %s, rounded up to 500, at least %s = %s",
    money(s.budget_tier_multiple), money(mid), money(s.min_budget), money(b))
end

-- Pure: the content calendar. days = the calendar tool's answer for the campaign's days (offsets
-- 0 .. 7 * weeks - 1), channels = allocations, topics = strings.
local function build_calendar(days, weeks, channels, topics, persona)
  local items = {}
  for _, a in ipairs(channels) do
    for _, c in ipairs(CADENCE[a.channel] or {}) do
      for w = 0, weeks - 1 do
        local on = true
        if c.first_week_only then on = w == 0 end
        if c.every then on = w % c.every == 0 end
        if c.once_at == "middle" then on = w == math.max(0, (weeks - 1) // 2) end
        if c.once_at == "second" then on = w == math.min(1, weeks - 1) end
        if on then
          local day = 7 * w + c[1]
          local at = days.dates[day + 1]
          items[#items + 1] = { day = day, date = at.date, weekday = at.weekday, week = w + 1,
                                channel = a.channel, format = c[2], persona = persona }
        end
      end
    end
  end
  table.sort(items, function(x, y) return x.day < y.day or (x.day == y.day and x.channel < y.channel) end)
  for i, it in ipairs(items) do
    it.topic = #topics > 0 and topics[(i - 1) % #topics + 1] or nil
    it.day = nil
  end
  return items
end

local BRIEF_SCHEMA = {
  type = "object",
  required = { "campaign_name", "personas", "messages" },
  properties = {
    campaign_name = { type = "string", minLength = 3, maxLength = 80 },
    personas = {
      type = "array", maxItems = 2,
      items = {
        type = "object",
        required = { "name", "role", "message_angle" },
        properties = {
          name = { type = "string", minLength = 2, maxLength = 60 },
          role = { type = "string", minLength = 2, maxLength = 80 },
          pains = { type = "array", maxItems = 4, items = { type = "string", minLength = 3, maxLength = 200 } },
          message_angle = { type = "string", minLength = 3, maxLength = 300 },
        },
      },
    },
    messages = {
      type = "array", minItems = 2, maxItems = 4,
      items = {
        type = "object",
        required = { "persona", "headline", "body", "cta" },
        properties = {
          persona = { type = "string", minLength = 2, maxLength = 80 },
          headline = { type = "string", minLength = 3, maxLength = 90 },
          body = { type = "string", minLength = 10, maxLength = 400 },
          cta = { type = "string", minLength = 2, maxLength = 40 },
        },
      },
    },
  },
}

local agent = {
  name = "Campaign Planner",
  capabilities = { "campaign_planning", "media_budgeting", "content_calendar" },
  tools = { "channel_budget" },
  build_calendar = build_calendar, campaign_budget = campaign_budget, -- pure, for tests
}

function agent.run(task, ctx)
  local input = task.input
  check(input)
  local s = settings(ctx)
  local offer = input.offer
  local persona = offer.persona
  local currency = offer.currency or "USD"
  local weeks = math.tointeger(input.weeks) or s.weeks

  local offsets = {}
  for d = 0, 7 * weeks - 1 do offsets[#offsets + 1] = d end
  local days = ctx.tool("calendar", { date = date_of(input.start_date) or time.iso():sub(1, 10), offsets = offsets,
                                      align = input.start_date == nil and "next_monday" or nil })
  local budget, budget_reason = campaign_budget(input, s)
  local split = ctx.tool("channel_budget", { budget = budget, company_size = persona.company_size,
                                             channels = #strings(input.channels) > 0 and strings(input.channels) or nil })
  local allocations, dropped, expected = split.allocations, split.dropped, split.expected_leads
  if #allocations == 0 then fail("no channel left to run the campaign on (check input.channels)") end
  for _, a in ipairs(allocations) do
    a.reason = string.format("%s of the budget for %s-employee companies; %s per lead -> %d leads",
      string.format("%d%%", math.floor(a.share * 100 + 0.5)), persona.company_size or "any size", money(a.cpl),
      a.expected_leads)
  end

  local topics = {}
  for _, p in ipairs(strings(persona.pains)) do topics[#topics + 1] = "Problem: " .. p end
  for _, d in ipairs(strings(offer.deliverables)) do topics[#topics + 1] = "How we deliver: " .. d end
  local calendar = build_calendar(days, weeks, allocations, topics, persona.role)

  local tier_lines = {}
  for _, t in ipairs(offer.tiers) do
    tier_lines[#tier_lines + 1] = string.format("- %s: %s %s", tostring(t.name), money(t.price), currency)
  end
  local channel_lines = {}
  for _, a in ipairs(allocations) do channel_lines[#channel_lines + 1] = "- " .. a.label end
  local reply = llm.chat{
    system = "You are a B2B campaign strategist at a digital agency. Concrete, no hype.",
    prompt = ctx.template("plan_campaign", {
      offer = { name = offer.name, tagline = tostring(offer.tagline or ""),
                value_proposition = tostring(offer.value_proposition or "") },
      persona = string.format("%s at %s-employee companies in %s", persona.role, persona.company_size or "any size",
        table.concat(strings(persona.industries), ", ")),
      pains = #strings(persona.pains) > 0 and "- " .. table.concat(strings(persona.pains), "\n- ") or "(none given)",
      tiers = table.concat(tier_lines, "\n"),
      channels = table.concat(channel_lines, "\n"),
      weeks = tostring(weeks),
    }),
    schema = BRIEF_SCHEMA,
    tools = ctx.tools,
    max_tokens = 1200,
  }
  local words = reply.data
  local personas = { {
    name = "Primary: " .. persona.role, role = persona.role, company_size = persona.company_size,
    industries = persona.industries, pains = persona.pains, primary = true,
  } }
  for _, p in ipairs(words.personas or {}) do personas[#personas + 1] = p end

  local campaign_slug = string.format("%s-v%d", offer.slug, math.tointeger(offer.version))
  local total = 0
  for _, a in ipairs(allocations) do total = total + a.budget end
  local brief = {
    offer = { slug = offer.slug, version = math.tointeger(offer.version), name = offer.name, tagline = offer.tagline,
              value_proposition = offer.value_proposition, currency = currency, tiers = offer.tiers,
              guarantees = offer.guarantees },
    campaign = { slug = campaign_slug, name = words.campaign_name, start_date = days.start,
                 end_date = days.dates[7 * weeks].date, weeks = weeks, budget = budget, currency = currency,
                 budget_reason = budget_reason },
    personas = personas,
    channels = allocations,
    dropped_channels = #dropped > 0 and dropped or nil,
    messages = words.messages,
    calendar = calendar,
    kpis = {
      expected_leads = expected,
      blended_cpl = expected > 0 and math.floor(total / expected * 100 + 0.5) / 100 or nil,
      mql_threshold = s.mql_threshold,
      target_mqls = expected // 4, -- one lead in four reaching the MQL threshold
    },
  }
  brief.summary = string.format("%s: %s %s over %d channels, %d calendar items %s to %s, ~%d leads expected",
    campaign_slug, money(budget), currency, #allocations, #calendar, brief.campaign.start_date,
    brief.campaign.end_date, expected)
  local prices = {}
  for _, t in ipairs(offer.tiers) do prices[#prices + 1] = t.price end
  table.sort(prices)
  memory.set("brief:" .. offer.slug, {
    offer_version = brief.offer.version, campaign = campaign_slug, role = persona.role,
    company_size = persona.company_size, industries = persona.industries, entry_price = prices[1],
  })
  log.info("planned campaign", campaign_slug, #allocations, "channels", #calendar, "calendar items")
  return brief
end

return agent
