-- Tests for handoffs/to_marketing.lua (run with `agency test domains/offer`).

local SPEC = {
  slug = "seo-growth-sprint", name = "SEO Growth Sprint", version = 1, currency = "USD",
  tagline = "Pipeline from search", value_proposition = "We turn organic search into pipeline.",
  persona = { role = "Head of Marketing", company_size = "51-200", industries = { "SaaS" }, pains = { "Ad costs" } },
  deliverables = { "Technical audit" },
  tiers = { { name = "Starter", price = 4450, includes = { "Technical audit" } } },
  guarantees = { "Two revision rounds" },
  delivery_weeks = 6,
  pricing = { tiers = { { name = "Starter", cost = 2400, price = 4450 } } },
}

test("a packaged offer becomes a marketing.plan_campaign input, with the launch settings", function()
  local h = run_handoff("to_marketing", SPEC, {
    task_id = 1, input = { launch = { budget = 12000, start_date = "2026-03-02", weeks = 4 } },
  })
  eq(h.status, "accepted")
  eq(h.input.offer.slug, "seo-growth-sprint")
  eq(h.input.offer.version, 1)
  eq(h.input.offer.tiers, { { name = "Starter", price = 4450, includes = { "Technical audit" } } })
  eq(h.input.budget, 12000)
  eq(h.input.start_date, "2026-03-02")
  eq(h.input.weeks, 4)
  eq(h.input.offer.pricing, nil) -- costs and margins stay in the offer domain
end)

test("without launch settings the campaign planner picks its defaults", function()
  local h = run_handoff("to_marketing", SPEC, { task_id = 2, input = {} })
  eq(h.status, "accepted")
  eq(h.input.budget, nil)
end)

test("an offer without prices or persona is rejected with the reasons", function()
  local h = run_handoff("to_marketing", { slug = "x", version = 1, tiers = { { name = "Starter" } } },
    { task_id = 3, input = {} })
  eq(h.status, "rejected")
  eq(h.reasons, { "the offer has no target persona (persona.role)", "tier 1 (Starter) has no price" })
end)
