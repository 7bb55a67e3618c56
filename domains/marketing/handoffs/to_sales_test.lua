-- Tests for handoffs/to_sales.lua (run with `agency test domains/marketing`).

local MQL = {
  email = "maria.chen@brightledger.io", company = "BrightLedger", name = "Maria Chen", title = "Head of Marketing",
  industry = "Fintech", employees = 140, budget = 9000, timeline_days = 45, source = "linkedin_ads",
  notes = "Asked about German content.", score = 72, threshold = 60, grade = "B", qualified = true,
  authority = "decision_maker", need = "high", reasons = { "demo requested: +20" },
  note = "Maria runs marketing at a 140-person fintech.",
  offer = { slug = "seo-growth-sprint", version = 1, name = "SEO Growth Sprint" },
  campaign = "seo-growth-sprint-v1",
}

test("a qualified lead becomes a sales.qualify_lead input", function()
  local h = run_handoff("to_sales", MQL, { task_id = 7, input = {} })
  eq(h.status, "accepted")
  eq(h.input.email, "maria.chen@brightledger.io")
  eq(h.input.company, "BrightLedger")
  eq(h.input.budget, 9000)
  eq(h.input.authority, "decision_maker")
  eq(h.input.need, "high")
  eq(h.input.timeline_days, 45)
  eq(h.input.source, "marketing/linkedin_ads")
  eq(h.input.notes, "MQL score 72 (grade B, threshold 60). Maria runs marketing at a 140-person fintech. "
    .. "Lead said: Asked about German content.")
  eq(h.input.offer, { slug = "seo-growth-sprint", version = 1, name = "SEO Growth Sprint" })
  eq(h.input.offer_slug, "seo-growth-sprint")
  eq(h.input.mql.score, 72)
end)

test("an unqualified lead hands off nothing", function()
  local lead = {}
  for k, v in pairs(MQL) do lead[k] = v end
  lead.qualified, lead.score = false, 41
  eq(run_handoff("to_sales", lead, { task_id = 8, input = {} }).status, "skipped")
end)

test("a lead marked qualified under the threshold is rejected", function()
  local lead = {}
  for k, v in pairs(MQL) do lead[k] = v end
  lead.score = 50
  local h = run_handoff("to_sales", lead, { task_id = 9, input = {} })
  eq(h.status, "rejected")
  eq(h.reasons, { "qualified but the score 50 is under the threshold 60" })
end)

test("a lead with only the required fields still fits the sales schema", function()
  local h = run_handoff("to_sales", { email = "a@b.co", company = "B", score = 60, threshold = 60, grade = "B",
                                      qualified = true, authority = "unknown" }, { task_id = 10, input = {} })
  eq(h.status, "accepted")
  eq(h.input.source, "marketing/inbound")
end)

test("an offer known only by its slug still gets the name the sales schema requires", function()
  local lead = {}
  for k, v in pairs(MQL) do lead[k] = v end
  lead.offer = { slug = "seo-growth-sprint" }
  local h = run_handoff("to_sales", lead, { task_id = 12, input = {} })
  eq(h.status, "accepted")
  eq(h.input.offer, { slug = "seo-growth-sprint", name = "seo-growth-sprint" })
end)

test("long notes are cut to the sales schema's 5000 characters", function()
  local lead = {}
  for k, v in pairs(MQL) do lead[k] = v end
  lead.notes = string.rep("é", 6000)
  local h = run_handoff("to_sales", lead, { task_id = 11, input = {} })
  eq(h.status, "accepted")
  eq(utf8.len(h.input.notes), 5000)
end)
