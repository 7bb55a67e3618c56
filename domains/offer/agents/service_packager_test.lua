-- Tests for agents/service_packager.lua (run with `agency test domains/offer`).

local function idea(slug)
  return {
    slug = slug,
    service = { name = "SEO Growth Sprint", delivery_weeks = 6,
                description = "A six-week SEO sprint for B2B software companies, measured on pipeline." },
    deliverables = { "Technical audit", "Keyword strategy", "On-page fixes", "4 articles", "Pipeline dashboard" },
    base_cost = 2400,
    competitor_prices = { 3900, 4500, 5200 },
    persona = { role = "Head of Marketing", company_size = "51-200", industries = { "SaaS" },
                pains = { "Rising ad costs" } },
    insights = { "Buyers ask for pipeline, not rankings" },
  }
end

test("an idea becomes offer v1 with three priced tiers", function()
  local spec = run_agent("service_packager", idea("pkg-test-a"))
  eq(spec.slug, "pkg-test-a")
  eq(spec.name, "SEO Growth Sprint")
  eq(spec.version, 1)
  eq(spec.currency, "USD")
  eq(spec.delivery_weeks, 6)
  eq(spec.persona.role, "Head of Marketing")
  eq(#spec.tiers, 3)
  eq({ spec.tiers[1].name, spec.tiers[2].name, spec.tiers[3].name }, { "Starter", "Growth", "Scale" })
  -- Starter 2400 -> 4450; Growth cost 4320, market 8100 -> 8000; Scale cost 7200, market 13500 -> 13300
  eq({ spec.tiers[1].price, spec.tiers[2].price, spec.tiers[3].price }, { 4450, 8000, 13300 })
  ok(spec.tiers[1].price < spec.tiers[2].price and spec.tiers[2].price < spec.tiers[3].price, "tiers climb")
  ok(type(spec.tagline) == "string" and spec.tagline ~= "", "tagline from the model")
  eq(#spec.guarantees, 3)
  match(spec.guarantees[1], "^Delivered within 6 weeks")
end)

test("tier i of n includes the first ceil(#deliverables * i / n) deliverables plus the extras so far", function()
  local spec = run_agent("service_packager", idea("pkg-test-b"))
  eq(spec.tiers[1].includes, { "Technical audit", "Keyword strategy" })
  eq(#spec.tiers[2].includes, 4 + 1)
  eq(spec.tiers[2].includes[5], "Monthly strategy call")
  eq(#spec.tiers[3].includes, 5 + 3)
end)

test("the slug comes from the name; costs stay in pricing, not in the tiers", function()
  local input = idea(nil)
  input.service.name = "Brand & Web Refresh!"
  local spec = run_agent("service_packager", input)
  eq(spec.slug, "brand-web-refresh")
  eq(spec.tiers[1].cost, nil)
  eq(spec.pricing.tiers[1].cost, 2400)
  eq(spec.pricing.target_margin, 0.45)
end)

test("without a persona the model proposes one", function()
  local input = idea("pkg-test-c")
  input.persona = nil
  local spec = run_agent("service_packager", input)
  ok(type(spec.persona.role) == "string" and spec.persona.role ~= "", "persona.role")
  ok(spec.persona.company_size ~= nil, "persona.company_size")
end)

test("bad input names the field", function()
  local input = idea("pkg-test-d")
  input.base_cost = nil
  raises(function() run_agent("service_packager", input) end, "input%.base_cost is required")
  input = idea("pkg-test-d")
  input.service.name = nil
  raises(function() run_agent("service_packager", input) end, "input%.service%.name is required")
end)

test("through offer.package_service: the offer hands off to marketing.plan_campaign", function()
  local input = idea("pkg-test-e")
  input.launch = { budget = 9000, start_date = "2026-03-02", weeks = 3 }
  local spec, handoffs = run_task("offer.package_service", input)
  eq(spec.version, 1)
  eq(#handoffs, 1)
  eq({ handoffs[1].name, handoffs[1].status, handoffs[1].to }, { "to_marketing", "accepted", "marketing.plan_campaign" })
  eq(handoffs[1].input.budget, 9000)
  eq(handoffs[1].input.offer.tiers[1].price, 4450)
end)

test("the task schema rejects an idea the packager cannot price", function()
  local input = idea("pkg-test-f")
  input.base_cost = 0
  input.tiers = { { name = "Solo", cost_multiplier = 0.5 } }
  raises(function() run_task("offer.package_service", input) end,
    "base_cost: must be greater than 0; tiers%[0%]%.cost_multiplier: must be at least 1")
end)
