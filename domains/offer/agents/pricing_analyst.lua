-- Pricing Analyst: delivery cost, target margin and competitor prices -> a price per tier, with
-- the reasoning (offer.price_offer). The numbers are deterministic: each tier is priced by
-- tools/price_calculator.lua (the agency's pricing rule, called with ctx.tool), the tier below's
-- price passed along so tiers climb. llm.chat only adds a short commentary for the account team, and
-- may call price_calculator itself to try alternatives. Without a model answer (errors, budget) the
-- prices stand without commentary.
--
-- The rule (in the tool): cost-plus at the target margin; under the competitors' median -> halfway up
-- to it; never under the minimum margin; at least tier_step above the tier below; rounded UP to
-- round_to. The policy comes from the task input, else config.lua `pricing`, else the defaults below.

-- Pricing policy when the input and config.lua `pricing` (ctx.config) leave a value out.
local DEFAULTS = { target_margin = 0.45, min_margin = 0.20, round_to = 50, tier_step = 0.15 }

local function fail(msg) error("pricing_analyst: " .. msg, 2) end

local function money(x)
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return string.format("%.2f", x)
end

local function pct(x) return string.format("%d%%", math.floor(x * 100 + 0.5)) end

-- The policy: task input over config.lua over DEFAULTS.
local function policy(input, ctx)
  local cfg = type(ctx) == "table" and type(ctx.config) == "table" and type(ctx.config.pricing) == "table"
    and ctx.config.pricing or {}
  local p = {}
  for k, v in pairs(DEFAULTS) do
    local x = input[k]
    if type(x) ~= "number" then x = cfg[k] end
    if type(x) ~= "number" then x = v end
    p[k] = x
  end
  if p.target_margin < 0 or p.target_margin >= 1 then fail("target_margin must be in [0, 1)") end
  if p.min_margin < 0 or p.min_margin >= 1 then fail("min_margin must be in [0, 1)") end
  if p.round_to <= 0 then fail("round_to must be > 0") end
  return p
end

-- The whole price sheet. input = { tiers = { { name, cost, competitor_prices }... }, ... }.
local function price_sheet(input, ctx)
  if type(input) ~= "table" then fail("input must be an object") end
  local p = policy(input, ctx)
  if type(input.tiers) ~= "table" or #input.tiers == 0 then fail("input.tiers is required (a non-empty list)") end
  local out, prev = {}, nil
  for i, t in ipairs(input.tiers) do
    if type(t) ~= "table" or type(t.name) ~= "string" or t.name == "" then
      fail(string.format("input.tiers[%d].name is required", i - 1))
    end
    if type(t.cost) ~= "number" or t.cost <= 0 then
      fail(string.format("input.tiers[%d].cost must be a number > 0", i - 1))
    end
    local priced = ctx.tool("price_calculator", {
      cost = t.cost, target_margin = p.target_margin, min_margin = p.min_margin, tier_step = p.tier_step,
      round_to = p.round_to, previous_tier_price = prev,
      competitor_prices = type(t.competitor_prices) == "table" and #t.competitor_prices > 0 and t.competitor_prices or nil,
    })
    priced.name, priced.cost = t.name, t.cost
    out[i] = priced
    prev = priced.price
  end
  return { currency = input.currency or "USD", policy = p, tiers = out }
end

local NOTE_SCHEMA = {
  type = "object",
  required = { "note", "risks" },
  properties = {
    note  = { type = "string", minLength = 1, maxLength = 1200 },
    risks = { type = "array", maxItems = 3, items = { type = "string", minLength = 1, maxLength = 300 } },
  },
}

local agent = {
  name = "Pricing Analyst",
  capabilities = { "pricing", "margin_analysis" },
  tools = { "price_calculator" },
}

function agent.run(task, ctx)
  local sheet = price_sheet(task.input, ctx)
  local lines = {}
  for _, t in ipairs(sheet.tiers) do
    lines[#lines + 1] = string.format("- %s: cost %s, price %s %s, margin %s, market median %s (%s)", t.name,
      money(t.cost), money(t.price), sheet.currency, pct(t.margin), t.market_median and money(t.market_median) or "n/a",
      t.position)
  end
  local short, lo, hi = {}, 1, 0
  for i, t in ipairs(sheet.tiers) do
    short[i] = string.format("%s %s", t.name, money(t.price))
    lo, hi = math.min(lo, t.margin), math.max(hi, t.margin)
  end
  sheet.summary = string.format("%s %s; margins %s to %s", table.concat(short, ", "), sheet.currency, pct(lo), pct(hi))
  sheet.details = table.concat(lines, "\n")
  local ok, reply = pcall(llm.chat, {
    system = "You are a pricing analyst at a digital agency. Be brief and concrete.",
    prompt = ctx.template("pricing_note", { sheet = sheet.details, target_margin = pct(sheet.policy.target_margin),
                                           min_margin = pct(sheet.policy.min_margin) }),
    schema = NOTE_SCHEMA,
    tools = ctx.tools,
    max_tokens = 600,
  })
  if ok then
    sheet.note, sheet.risks = reply.data.note, reply.data.risks
  else
    log.warn("pricing_analyst: no commentary:", type(reply) == "table" and reply.code or tostring(reply))
  end
  return sheet
end

return agent
