-- price_calculator: the agency's pricing rule for one tier. The one place the rule lives: the pricing
-- analyst and the service packager call it with ctx.tool, and a model can call it while it reasons
-- about prices.
--
-- Rule: cost-plus at the target margin; below the market median -> halfway up to the median;
-- never under the minimum margin; at least tier_step above the tier below; rounded UP to round_to.

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

return {
  name = "price_calculator",
  description = "Price one service tier: cost-plus at a target margin, adjusted toward the competitors' "
    .. "median price, never under the minimum margin, rounded up. Returns the price, the margin it "
    .. "achieves and the reasoning step by step.",
  parameters = {
    type = "object",
    required = { "cost", "target_margin" },
    properties = {
      cost              = { type = "number", exclusiveMinimum = 0, description = "Delivery cost of the tier" },
      target_margin     = { type = "number", minimum = 0, maximum = 0.9, description = "e.g. 0.45 for 45%" },
      min_margin        = { type = "number", minimum = 0, maximum = 0.9, description = "floor, default 0.2" },
      competitor_prices = { type = "array", maxItems = 50, items = { type = "number", exclusiveMinimum = 0 } },
      previous_tier_price = { type = "number", exclusiveMinimum = 0,
                              description = "price of the tier below; this one must be higher" },
      tier_step         = { type = "number", minimum = 0, maximum = 2, description = "default 0.15" },
      round_to          = { type = "number", exclusiveMinimum = 0, description = "default 50" },
    },
    additionalProperties = false,
  },
  run = function(args)
    local cost, tm = args.cost, args.target_margin
    local mm = args.min_margin or 0.2
    local step, round_to = args.tier_step or 0.15, args.round_to or 50
    local market = median(args.competitor_prices)
    local reasoning = {}
    local price = cost / (1 - tm)
    reasoning[#reasoning + 1] = string.format("cost %s at %s target margin: %s", money(cost), pct(tm), money(price))
    if market and price < market then
      price = (price + market) / 2
      reasoning[#reasoning + 1] = string.format("under the market median %s: halfway up to it, %s",
        money(market), money(price))
    elseif market and price > market * 1.25 then
      reasoning[#reasoning + 1] = string.format("%s above the market median %s: sell on value",
        pct(price / market - 1), money(market))
    elseif market then
      reasoning[#reasoning + 1] = string.format("within 25%% of the market median %s", money(market))
    end
    local floor = cost / (1 - mm)
    if price < floor then
      price = floor
      reasoning[#reasoning + 1] = string.format("raised to the %s minimum margin: %s", pct(mm), money(price))
    end
    local prev = args.previous_tier_price
    if prev and price < prev * (1 + step) then
      price = prev * (1 + step)
      reasoning[#reasoning + 1] = string.format("raised to %s above the tier below (%s): %s", pct(step),
        money(prev), money(price))
    end
    price = round_up(price, round_to)
    reasoning[#reasoning + 1] = string.format("rounded up to a multiple of %s: %s", money(round_to), money(price))
    local margin = (price - cost) / price
    return {
      price = price,
      margin = math.floor(margin * 1000 + 0.5) / 1000,
      market_median = market,
      position = market and ((price < market * 0.95 and "below") or (price > market * 1.05 and "above") or "at")
        or "unknown",
      reasoning = reasoning,
    }
  end,
}
