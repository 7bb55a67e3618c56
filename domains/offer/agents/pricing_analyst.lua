-- Pricing Analyst: delivery cost, target margin and competitor prices -> a price per tier, with
-- the reasoning (offer.price_offer). The numbers are deterministic (the rule below); llm.chat only
-- adds a short commentary for the account team, and may call tools/price_calculator to try
-- alternatives. Without a model answer (errors, budget) the prices stand without commentary.
--
-- Rule per tier (same as tools/price_calculator.lua and agents/service_packager.lua):
--   1. cost-plus: cost / (1 - target_margin)
--   2. under the competitors' median -> halfway up to the median (we are worth the market);
--      more than 25% over it -> kept, flagged "sell on value"
--   3. never under the minimum margin: cost / (1 - min_margin)
--   4. at least tier_step (15%) above the tier below, so tiers climb
--   5. rounded UP to a multiple of round_to (50): rounding never lowers the margin

-- Policy defaults; config.lua `pricing` holds the same values (read via ctx.config when present).
local DEFAULTS = { target_margin = 0.45, min_margin = 0.20, round_to = 50, tier_step = 0.15 }

local function fail(msg) error("pricing_analyst: " .. msg, 2) end

local function money(x)
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return string.format("%.2f", x)
end

local function pct(x) return string.format("%d%%", math.floor(x * 100 + 0.5)) end

local function median(list)
  local xs = {}
  for _, v in ipairs(list or {}) do
    if type(v) == "number" and v > 0 then xs[#xs + 1] = v end
  end
  if #xs == 0 then return nil end
  table.sort(xs)
  local mid = (#xs + 1) // 2
  if #xs % 2 == 1 then return xs[mid] end
  return (xs[mid] + xs[mid + 1]) / 2
end

local function round_up(x, step)
  local r = math.ceil(x / step - 1e-9) * step
  return math.tointeger(r) or r
end

-- One tier: { cost, market (median or nil), prev (price of the tier below or nil) } -> priced tier.
local function price_tier(cost, market, prev, p)
  local reasoning = {}
  local price = cost / (1 - p.target_margin)
  reasoning[#reasoning + 1] = string.format("cost %s at %s target margin: %s", money(cost), pct(p.target_margin),
    money(price))
  if market and price < market then
    price = (price + market) / 2
    reasoning[#reasoning + 1] = string.format("under the market median %s: halfway up to it, %s", money(market),
      money(price))
  elseif market and price > market * 1.25 then
    reasoning[#reasoning + 1] = string.format("%s above the market median %s: sell on value",
      pct(price / market - 1), money(market))
  elseif market then
    reasoning[#reasoning + 1] = string.format("within 25%% of the market median %s", money(market))
  end
  local floor = cost / (1 - p.min_margin)
  if price < floor then
    price = floor
    reasoning[#reasoning + 1] = string.format("raised to the %s minimum margin: %s", pct(p.min_margin), money(price))
  end
  if prev and price < prev * (1 + p.tier_step) then
    price = prev * (1 + p.tier_step)
    reasoning[#reasoning + 1] = string.format("raised to %s above the tier below (%s): %s", pct(p.tier_step),
      money(prev), money(price))
  end
  price = round_up(price, p.round_to)
  reasoning[#reasoning + 1] = string.format("rounded up to a multiple of %s: %s", money(p.round_to), money(price))
  local margin = math.floor((price - cost) / price * 1000 + 0.5) / 1000
  local position = "unknown"
  if market then
    position = (price < market * 0.95 and "below") or (price > market * 1.05 and "above") or "at"
  end
  return { cost = cost, price = price, margin = margin, market_median = market, position = position,
           reasoning = reasoning }
end

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

-- Pure: the whole price sheet. input = { tiers = { { name, cost, competitor_prices }... }, ... }.
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
    local priced = price_tier(t.cost, median(t.competitor_prices), prev, p)
    priced.name = t.name
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

local function render(ctx, name, vars)
  if type(ctx.template) == "function" then return ctx.template(name, vars) end
  return name .. ": " .. json.encode(vars) -- engine without templates (before issue 5)
end

local agent = {
  name = "Pricing Analyst",
  capabilities = { "pricing", "margin_analysis" },
  tools = { "price_calculator" },
  price_sheet = price_sheet, -- pure, for tests
}

function agent.run(task, ctx)
  local sheet = price_sheet(task.input, ctx)
  local lines = {}
  for _, t in ipairs(sheet.tiers) do
    lines[#lines + 1] = string.format("- %s: cost %s, price %s %s, margin %s, market median %s (%s)", t.name,
      money(t.cost), money(t.price), sheet.currency, pct(t.margin), t.market_median and money(t.market_median) or "n/a",
      t.position)
  end
  sheet.summary = table.concat(lines, "\n")
  local ok, reply = pcall(llm.chat, {
    system = "You are a pricing analyst at a digital agency. Be brief and concrete.",
    prompt = render(ctx, "pricing_note", { sheet = sheet.summary, target_margin = pct(sheet.policy.target_margin),
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
