-- Tests for agents/offer_refiner.lua (run with `agency test domains/offer`).

local function v1(slug)
  return {
    slug = slug, name = "SEO Growth Sprint", version = 1, currency = "USD", delivery_weeks = 6,
    tagline = "Pipeline from search", value_proposition = "We turn organic search into qualified pipeline.",
    persona = { role = "Head of Marketing", company_size = "51-200" },
    deliverables = { "Technical audit", "Keyword strategy" },
    tiers = {
      { name = "Starter", price = 4450, includes = { "Technical audit" } },
      { name = "Growth", price = 8000, includes = { "Technical audit", "Keyword strategy" } },
    },
    guarantees = { "Delivered within 6 weeks of kick-off, or 10% of the fee back" },
    pricing = { tiers = { { name = "Starter", cost = 2400, price = 4450, market_median = 4500 },
                          { name = "Growth", cost = 4320, price = 8000 } } },
  }
end

local function insight(theme, count, sentiment)
  return { id = "ins:" .. theme, theme = theme, count = count, sentiment = sentiment or "negative",
           recommendation = "do something about " .. theme }
end

test("v1 + insights -> v2 that references the insights it came from", function()
  local spec = run_agent("offer_refiner", {
    offer = { slug = "ref-test-a", version = 1 }, previous = v1("ref-test-a"),
    insights = { insight("communication", 3), insight("timeline", 2) }, nps = 20,
  })
  eq(spec.version, 2)
  eq(spec.refined_from.version, 1)
  eq(spec.refined_from.insights, { "ins:communication", "ins:timeline" })
  eq(spec.refined_from.themes, { "communication", "timeline" })
  eq(spec.refined_from.nps, 20)
  -- communication: a guarantee and a status report in every tier
  eq(spec.guarantees[#spec.guarantees - 1], "A written status report every Friday and one named point of contact")
  eq(spec.tiers[1].includes[#spec.tiers[1].includes], "Weekly written status report")
  eq(spec.tiers[2].includes[#spec.tiers[2].includes], "Weekly written status report")
  -- timeline: one buffer week, and the delivery guarantee follows
  eq(spec.delivery_weeks, 7)
  match(spec.guarantees[1], "^Delivered within 7 weeks")
  eq(#spec.changes, 4)
end)

test("pricing complaints cut the entry price 10%, never under the minimum margin", function()
  local spec = run_agent("offer_refiner", {
    offer = { slug = "ref-test-b", version = 1 }, previous = v1("ref-test-b"),
    insights = { insight("pricing", 2) },
  })
  eq(spec.tiers[1].price, 4050) -- 4450 * 0.9 = 4005 -> rounded up to 4050
  eq(spec.tiers[2].price, 8000)
  eq(spec.pricing.tiers[1].position, "below")
  local prev = v1("ref-test-c")
  prev.tiers[1].price = 3000 -- floor: 2400 / 0.8 = 3000
  spec = run_agent("offer_refiner", { offer = { slug = "ref-test-c", version = 1 }, previous = prev,
                                      insights = { insight("pricing", 5) } })
  eq(spec.tiers[1].price, 3000)
  match(spec.open_items[1].recommendation, "minimum margin")
end)

test("positive insights become proof points; unknown themes become open items", function()
  local spec = run_agent("offer_refiner", {
    offer = { slug = "ref-test-d", version = 1 }, previous = v1("ref-test-d"),
    insights = { insight("expertise", 4, "positive"), insight("parking", 2) },
  })
  eq(spec.proof_points, { "Clients praise our expertise (4 mentions)" })
  eq(spec.open_items[1].theme, "parking")
  eq(spec.tiers, v1("ref-test-d").tiers)
end)

test("a newer count of the same praise replaces the proof point", function()
  local prev = v1("ref-test-f")
  prev.proof_points = { "Clients praise our expertise (2 mentions)" }
  local spec = run_agent("offer_refiner", { offer = { slug = "ref-test-f", version = 1 }, previous = prev,
                                            insights = { insight("expertise", 5, "positive") } })
  eq(spec.proof_points, { "Clients praise our expertise (5 mentions)" })
  eq(spec.changes, { "proof point updated: Clients praise our expertise (5 mentions)" })
end)

test("the next refinement builds on the newest version in memory", function()
  local first = run_agent("offer_refiner", {
    offer = { slug = "ref-test-e", version = 1 }, previous = v1("ref-test-e"), insights = { insight("quality", 2) },
  })
  eq(first.version, 2)
  local second = run_agent("offer_refiner", {
    offer = { slug = "ref-test-e", version = 2 }, insights = { insight("support", 2) },
  })
  eq(second.version, 3)
  eq(second.refined_from.version, 2)
  -- v3 keeps v2's QA review and adds support from the second tier up
  local growth = second.tiers[2].includes
  eq(growth[#growth - 1], "Senior QA review before every hand-over")
  eq(growth[#growth], "30 days of post-launch support")
end)

test("an unknown offer without a previous spec is an error naming the offer", function()
  raises(function()
    run_agent("offer_refiner", { offer = { slug = "ref-test-missing", version = 1 },
                                 insights = { insight("quality", 2) } })
  end, "offer 'ref%-test%-missing' not found")
end)
