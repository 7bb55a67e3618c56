-- deal_pricing: the discount and approval calculator of a proposal (deterministic).
--
-- A tier's list price that is over the lead's budget may be discounted to fit, but never by more
-- than the lead tier allows (hot 10%, warm 5%, cold 0%; config.lua max_discount_pct). The discount is
-- the smallest whole percentage that fits the budget; when even the largest allowed one does not fit,
-- there is no discount (margin is not given away for a deal that still does not fit).
-- A price above the approval threshold (config.lua approval_threshold) needs a human's approval.
-- max_discount_pct and approval_threshold, when given, replace the defaults below (the proposal
-- writer passes the domain's ctx.config values).
--
-- The one place the rule lives: agents/proposal_writer.lua prices every tier with it through
-- ctx.tool, and a model can call it too.

local MAX_DISCOUNT_PCT = { hot = 10, warm = 5, cold = 0 } -- = config.lua max_discount_pct
local APPROVAL_THRESHOLD = 25000                          -- = config.lua approval_threshold

local function money(x)
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return string.format("%.2f", x)
end

local function round2(x) return math.floor(x * 100 + 0.5) / 100 end

-- Pure. a = { list_price, budget (or nil), lead_tier, approval_threshold (or nil), max_discount_pct (or nil) }
local function price_deal(a)
  local list = a.list_price
  local max_pct = a.max_discount_pct or MAX_DISCOUNT_PCT[a.lead_tier] or 0
  local threshold = a.approval_threshold or APPROVAL_THRESHOLD
  local budget = type(a.budget) == "number" and a.budget or nil
  local r = { list_price = list, discount_pct = 0, price = list, budget = budget, max_discount_pct = max_pct,
              approval_threshold = threshold, reasons = {} }
  if budget == nil then
    r.fits_budget = nil
    r.reasons[#r.reasons + 1] = "budget unknown: list price, no discount"
  elseif list <= budget then
    r.fits_budget = true
    r.reasons[#r.reasons + 1] = string.format("list price %s within budget %s", money(list), money(budget))
  else
    local needed = math.ceil((1 - budget / list) * 100 - 1e-9)
    if needed <= max_pct then
      r.discount_pct = needed
      r.price = round2(list * (100 - needed) / 100)
      r.fits_budget = r.price <= budget
      r.reasons[#r.reasons + 1] = string.format("list price %s over budget %s: %d%% discount (a %s lead allows %d%%) -> %s",
        money(list), money(budget), needed, tostring(a.lead_tier), max_pct, money(r.price))
    else
      r.fits_budget = false
      r.reasons[#r.reasons + 1] = string.format("list price %s over budget %s: would need %d%%, a %s lead allows %d%%",
        money(list), money(budget), needed, tostring(a.lead_tier), max_pct)
    end
  end
  r.needs_approval = r.price > threshold
  r.reasons[#r.reasons + 1] = string.format("%s %s approval threshold %s", money(r.price),
    r.needs_approval and "above the" or "within the", money(threshold))
  return r
end

return {
  name = "deal_pricing",
  description = "Price a proposal tier for a lead: the discount that fits the budget (capped by the lead's "
    .. "tier: hot 10%, warm 5%, cold 0%) and whether the deal needs a human's approval",
  parameters = {
    type = "object",
    required = { "list_price", "lead_tier" },
    properties = {
      list_price = { type = "number", minimum = 0 },
      budget = { type = "number", minimum = 0 },
      lead_tier = { type = "string", enum = { "hot", "warm", "cold" } },
      approval_threshold = { type = "number", exclusiveMinimum = 0 },
      max_discount_pct = { type = "number", minimum = 0, maximum = 100,
                           description = "default by lead_tier: hot 10, warm 5, cold 0" },
    },
    additionalProperties = false,
  },
  price_deal = price_deal, -- pure, for tests
  run = function(args, ctx)
    return price_deal(args)
  end,
}
