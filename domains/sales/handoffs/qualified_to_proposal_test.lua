-- Tests of handoffs/qualified_to_proposal.lua. Run: agency test domains/sales

local INPUT = { email = "ana@example.com", company = "Acme", name = "Ana Lima", budget = 20000,
                authority = "decision_maker", need = "high", timeline_days = 30, source = "webinar" }

local function meta(input) return { task_id = 7, task_type = "sales.qualify_lead", domain = "sales", input = input } end

test("a qualified lead becomes a write_proposal input", function()
  local result = run_agent("qualifier", INPUT)
  local h = run_handoff("qualified_to_proposal", result, meta(INPUT))
  eq(h.status, "accepted")
  eq(h.input, { lead = { email = "ana@example.com", company = "Acme", name = "Ana Lima", budget = 20000,
                         authority = "decision_maker", need = "high", timeline_days = 30, source = "webinar",
                         score = 95, tier = "hot" } })
end)

test("a cold lead is no handoff at all", function()
  local input = { email = "bo@example.com", company = "Tiny", need = "low" }
  local h = run_handoff("qualified_to_proposal", run_agent("qualifier", input), meta(input))
  eq(h.status, "skipped")
end)

test("the offer goes along: a spec with tiers, else its slug", function()
  local offer = { name = "SEO Growth Sprint", slug = "seo-growth-sprint", version = 1,
                  tiers = { { name = "Starter", price = 4400 } } }
  local input = { email = "ana@example.com", company = "Acme", budget = 20000, authority = "decision_maker",
                  need = "high", offer = offer }
  local h = run_handoff("qualified_to_proposal", run_agent("qualifier", input), meta(input))
  eq(h.status, "accepted")
  eq(h.input.offer, offer)
  input.offer = { name = "SEO Growth Sprint", slug = "seo-growth-sprint" }
  h = run_handoff("qualified_to_proposal", run_agent("qualifier", input), meta(input))
  eq(h.input.offer, nil)
  eq(h.input.offer_slug, "seo-growth-sprint")
end)

test("a result without an email is rejected with the reason", function()
  local h = run_handoff("qualified_to_proposal", { qualified = true, score = 70, company = "Acme" }, meta({}))
  eq(h.status, "rejected")
  eq(h.reasons, { "the result has no email" })
end)
