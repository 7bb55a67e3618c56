-- Tests of handoffs/won_to_fulfillment.lua (Sales -> Fulfillment). Run: agency test domains/sales

local DEAL = { client = "Acme", contact_email = "ana@example.com", contact_name = "Ana Lima", value = 15000,
               currency = "USD", tier = "Growth", offer = "SEO Growth Sprint", offer_slug = "seo-growth-sprint",
               offer_version = 1, budget = 20000, stage = "proposal", proposal_id = "P-acme-12",
               deliverables = { "Technical SEO audit", "Organic pipeline dashboard" } }

local function meta() return { task_id = 9, task_type = "sales.manage_deal", domain = "sales", input = { deal = DEAL } } end

test("a closed_won deal becomes a fulfillment.plan_project input", function()
  local r = run_agent("deal_desk", { deal = DEAL, as_of = "2026-03-04",
    proposal = { id = "P-acme-12", status = "approved", value = 15000, fits_budget = true } })
  local h = run_handoff("won_to_fulfillment", r, meta())
  eq(h.status, "accepted")
  eq(h.input, { deal = { id = "D-acme-12", client = "Acme", contact_email = "ana@example.com", contact_name = "Ana Lima",
    value = 15000, currency = "USD", tier = "Growth", offer = "SEO Growth Sprint", offer_slug = "seo-growth-sprint",
    offer_version = 1, deliverables = { "Technical SEO audit", "Organic pipeline dashboard" },
    signed_on = "2026-03-04" } })
end)

test("an open or lost deal is no handoff to fulfillment", function()
  eq(run_handoff("won_to_fulfillment", { stage = "negotiation", deal = DEAL }, meta()).status, "skipped")
  eq(run_handoff("won_to_fulfillment", { stage = "closed_lost", deal = DEAL }, meta()).status, "skipped")
end)

test("a won deal with nothing to deliver is rejected with the reasons", function()
  local h = run_handoff("won_to_fulfillment", { stage = "closed_won", deal = { client = "Acme",
    contact_email = "ana@example.com", value = 0 } }, meta())
  eq(h.status, "rejected")
  eq(h.reasons, { "the deal has no value > 0", "the deal has no signed_on date", "the deal has no deliverables to plan" })
end)
