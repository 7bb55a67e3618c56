-- Tests for agents/pricing_analyst.lua (run with `agency test domains/offer`).

local SHEET = {
  currency = "USD",
  target_margin = 0.45,
  tiers = {
    { name = "Starter", cost = 2400, competitor_prices = { 3900, 4500, 5200 } },
    { name = "Growth", cost = 4300, competitor_prices = { 7500, 8200, 9900 } },
    { name = "Scale", cost = 7200, competitor_prices = { 11000, 12500 } },
  },
}

test("prices follow the rule: cost-plus, halfway to the market median, rounded up to 50", function()
  local r = run_agent("pricing_analyst", SHEET)
  eq(r.currency, "USD")
  eq(#r.tiers, 3)
  -- Starter: 2400 / 0.55 = 4363.64 < median 4500 -> (4363.64 + 4500) / 2 = 4431.82 -> 4450
  eq(r.tiers[1].name, "Starter")
  eq(r.tiers[1].price, 4450)
  eq(r.tiers[1].market_median, 4500)
  eq(r.tiers[1].position, "at")
  eq(r.tiers[1].margin, 0.461)
  -- Growth: 4300 / 0.55 = 7818.18 < 8200 -> 8009.09 -> 8050
  eq(r.tiers[2].price, 8050)
  -- Scale: 7200 / 0.55 = 13090.91, within 25% over the median 11750 -> 13100
  eq(r.tiers[3].price, 13100)
  eq(r.tiers[3].position, "above")
  match(r.tiers[3].reasoning[2], "within 25%% of the market median 11750")
  eq(r.summary, "Starter 4450, Growth 8050, Scale 13100 USD; margins 45% to 47%")
  match(r.details, "Starter: cost 2400, price 4450 USD, margin 46%%, market median 4500 %(at%)")
end)

test("no competitor prices: pure cost-plus; the minimum margin and the tier step hold", function()
  local r = run_agent("pricing_analyst", {
    target_margin = 0.1, min_margin = 0.25,
    tiers = { { name = "A", cost = 1000 }, { name = "B", cost = 1010 } },
  })
  -- A: 1000 / 0.9 = 1111.11 < floor 1000 / 0.75 = 1333.33 -> 1350
  eq(r.tiers[1].price, 1350)
  eq(r.tiers[1].position, "unknown")
  match(r.tiers[1].reasoning[2], "minimum margin")
  -- B: its floor 1346.67 is under 1350 * 1.15 = 1552.5 -> 1600
  eq(r.tiers[2].price, 1600)
  match(r.tiers[2].reasoning[3], "above the tier below")
end)

test("every price keeps at least the minimum margin", function()
  local r = run_agent("pricing_analyst", {
    target_margin = 0, tiers = { { name = "Cheap", cost = 999, competitor_prices = { 10 } } },
  })
  ok(r.tiers[1].margin >= 0.2, "margin >= 20%")
  eq(r.tiers[1].price, 1250) -- 999 / 0.8 = 1248.75 -> 1250
end)

test("bad input names the field", function()
  raises(function() run_agent("pricing_analyst", { tiers = {} }) end, "input.tiers is required")
  raises(function() run_agent("pricing_analyst", { tiers = { { name = "X", cost = 0 } } }) end,
    "tiers%[0%]%.cost must be a number > 0")
end)
