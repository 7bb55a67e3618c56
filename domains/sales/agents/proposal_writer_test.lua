-- Tests of agents/proposal_writer.lua: tier by budget, discount, approval above the threshold.
-- Run: agency test domains/sales (mock LLM: the words are not checked, only that they are there).

local OFFER = {
  name = "SEO Growth Sprint", slug = "seo-growth-sprint", version = 2, currency = "USD",
  tiers = { -- not sorted on purpose
    { name = "Scale", price = 15000, includes = { "Audit", "Strategy", "On-page", "Articles", "Dashboard" } },
    { name = "Starter", price = 4400, includes = { "Audit", "Strategy" } },
    { name = "Growth", price = 8000, includes = { "Audit", "Strategy", "On-page" } },
  },
}

local function lead(t)
  local l = { email = "ana@example.com", company = "Acme", name = "Ana Lima", authority = "decision_maker",
              need = "high", timeline_days = 30, score = 85, tier = "hot" }
  for k, v in pairs(t or {}) do l[k] = v end
  return l
end

test("the largest tier within the budget, at list price", function()
  local r = run_agent("proposal_writer", { lead = lead({ budget = 9000 }), offer = OFFER })
  local p = r.proposal
  eq(p.tier, "Growth")
  eq(p.list_price, 8000)
  eq(p.value, 8000)
  eq(p.discount_pct, 0)
  eq(p.fits_budget, true)
  eq(p.status, "ready")
  eq(p.approval.required, false)
  eq(p.includes, { "Audit", "Strategy", "On-page" })
  eq(p.offer, { name = "SEO Growth Sprint", slug = "seo-growth-sprint", version = 2 })
  eq(p.client, "Acme")
  eq(p.contact.email, "ana@example.com")
  ok(type(p.title) == "string" and #p.title > 0, "a title")
  ok(type(p.summary) == "string" and #p.summary > 0, "a summary")
  ok(#p.sections >= 1, "sections")
  match(p.id, "^P%-acme%-")
  eq(r.summary, p.id .. ": Growth tier at 8000 USD (fits the 9000 budget), ready")
end)

test("a hot lead gets up to 10% off to fit a bigger tier", function()
  local r = run_agent("proposal_writer", { lead = lead({ budget = 14000 }), offer = OFFER })
  eq(r.proposal.tier, "Scale")
  eq(r.proposal.discount_pct, 7)           -- 15000 -> 13950, the smallest whole % that fits
  eq(r.proposal.value, 13950)
  eq(r.proposal.fits_budget, true)
  match(r.summary, ": Scale tier at 13950 USD %(7%% off 15000, fits the 14000 budget%), ready$")
end)

test("a warm lead gets at most 5%: the tier below instead", function()
  local r = run_agent("proposal_writer", { lead = lead({ budget = 14000, score = 65, tier = "warm" }), offer = OFFER })
  eq(r.proposal.tier, "Growth")
  eq(r.proposal.discount_pct, 0)
  eq(r.proposal.value, 8000)
end)

test("no tier fits: the entry tier at list price, marked over budget", function()
  local r = run_agent("proposal_writer", { lead = lead({ budget = 2000 }), offer = OFFER })
  eq(r.proposal.tier, "Starter")
  eq(r.proposal.value, 4400)
  eq(r.proposal.fits_budget, false)
  match(r.summary, ": Starter tier at 4400 USD %(over the 2000 budget%), ready$")
end)

test("budget unknown: the entry tier", function()
  local r = run_agent("proposal_writer", { lead = lead(), offer = OFFER })
  eq(r.proposal.tier, "Starter")
  eq(r.proposal.fits_budget, nil)
  match(r.reasons[2], "budget unknown")
  match(r.summary, ": Starter tier at 4400 USD %(budget unknown%), ready$")
end)

test("no offer given: the default catalogue", function()
  local r = run_agent("proposal_writer", { lead = lead({ budget = 20000 }) })
  eq(r.proposal.offer.name, "Growth Marketing Retainer")
  eq(r.proposal.tier, "Growth")
  eq(r.proposal.value, 15000)
end)

test("above the approval threshold: asks a human, approved", function()
  local r = run_agent("proposal_writer", { lead = lead({ budget = 60000 }) },
    { approve = { approved = true, comment = "go", decided_by = "lea", decided_at = "2026-03-01T10:00:00Z" } })
  eq(r.proposal.value, 40000)
  eq(r.proposal.approval.required, true)
  eq(r.proposal.approval.threshold, 25000)
  eq(r.proposal.approval.approved, true)
  eq(r.proposal.status, "approved")
  match(r.summary, ": Scale tier at 40000 USD %(fits the 60000 budget%), approved by lea %(over the 25000 threshold%)$")
end)

test("above the approval threshold: rejected -> the proposal is marked rejected", function()
  local r = run_agent("proposal_writer", { lead = lead({ budget = 60000 }) },
    { approve = { approved = false, comment = "margin too thin", decided_by = "lea",
                  decided_at = "2026-03-01T10:00:00Z" } })
  eq(r.proposal.status, "rejected")
  eq(r.proposal.approval.approved, false)
  eq(r.proposal.approval.comment, "margin too thin")
  eq(r.proposal.tier, "Scale")              -- the proposal is still returned, whole
  match(r.reasons[#r.reasons], "rejected")
  match(r.summary, ", rejected at approval by lea %(over the 25000 threshold%): margin too thin$")
end)

test("a lead without company fails clearly", function()
  raises(function() run_agent("proposal_writer", { lead = { email = "x@example.com" } }) end, "email and company")
end)
