-- Tests of handoffs/lost_to_nurture.lua (Sales -> Marketing, nurturing lost deals).
-- Run: agency test domains/sales (needs the marketing domain's marketing.nurture_lead task type).

local DEAL = { client = "Acme", contact_email = "ana@example.com", contact_name = "Ana Lima", value = 15000,
               currency = "USD", tier = "Growth", offer = "Growth Marketing Retainer", budget = 10000,
               stage = "proposal", proposal_id = "P-acme-12" }

local function meta() return { task_id = 9, task_type = "sales.manage_deal", domain = "sales", input = { deal = DEAL } } end

test("a deal lost on price goes to marketing nurturing in 90 days", function()
  local r = run_agent("deal_desk", { deal = DEAL, as_of = "2026-03-04",
    proposal = { id = "P-acme-12", status = "ready", value = 15000, fits_budget = false } })
  eq(r.stage, "closed_lost")
  local h = run_handoff("lost_to_nurture", r, meta())
  eq(h.status, "accepted")
  eq(h.input.email, "ana@example.com")
  eq(h.input.company, "Acme")
  eq(h.input.name, "Ana Lima")
  eq(h.input.stage_reached, "proposal")
  eq(h.input.lost_on, "2026-03-04")
  eq(h.input.nurture_in_days, 90)
  eq(h.input.source, "sales.closed_lost")
  match(h.input.lost_reason, "above the budget")
end)

test("lost for another reason: nurture in 30 days", function()
  local r = run_agent("deal_desk", { deal = DEAL, as_of = "2026-03-04",
    updates = { { stage = "negotiation" }, { stage = "closed_lost", lost_reason = "chose an in-house team" } } })
  local h = run_handoff("lost_to_nurture", r, meta())
  eq(h.status, "accepted")
  eq(h.input.stage_reached, "negotiation")
  eq(h.input.nurture_in_days, 30)
end)

test("a won deal is not nurtured", function()
  eq(run_handoff("lost_to_nurture", { stage = "closed_won", deal = DEAL }, meta()).status, "skipped")
end)
