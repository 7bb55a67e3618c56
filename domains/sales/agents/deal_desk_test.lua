-- Tests of agents/deal_desk.lua: stage order, required fields, deciding from the proposal.
-- Run: agency test domains/sales

-- deal{...} overrides fields; deal({...}, { "budget" }) also drops the fields named.
local function deal(t, drop)
  local d = { client = "Acme", contact_email = "ana@example.com", value = 15000, currency = "USD", tier = "Growth",
              offer = "Growth Marketing Retainer", budget = 20000, stage = "proposal", proposal_id = "P-acme-12",
              deliverables = { "Marketing audit", "90-day channel plan" } }
  for k, v in pairs(t or {}) do d[k] = v end
  for _, k in ipairs(drop or {}) do d[k] = nil end
  return d
end

test("an accepted proposal within the budget closes won", function()
  local r = run_agent("deal_desk", { deal = deal(), as_of = "2026-03-04",
    proposal = { id = "P-acme-12", status = "ready", value = 15000, fits_budget = true } })
  eq(r.stage, "closed_won")
  eq(r.status, "won")
  eq(r.decided_by, "proposal")
  eq(r.deal.signed_on, "2026-03-04")
  eq(r.deal.value, 15000)
  eq(r.deal.id, "D-acme-12")
  eq(r.history, { { from = "proposal", to = "closed_won", on = "2026-03-04" } })
  eq(r.summary, "D-acme-12: proposal -> closed_won, 15000 USD signed 2026-03-04")
  ok(type(r.narrative) == "string" and #r.narrative > 0, "the model's narrative")
  ok(#r.next_steps >= 1, "next steps")
end)

test("a proposal rejected at approval closes lost, with the comment", function()
  local r = run_agent("deal_desk", { deal = deal(), as_of = "2026-03-04",
    proposal = { id = "P-acme-12", status = "rejected", value = 40000, comment = "margin too thin" } })
  eq(r.stage, "closed_lost")
  eq(r.deal.lost_reason, "proposal rejected at internal approval: margin too thin")
  eq(r.deal.lost_on, "2026-03-04")
  eq(r.summary, "D-acme-12: proposal -> closed_lost: proposal rejected at internal approval: margin too thin")
end)

test("over the budget closes lost; budget unknown goes to negotiation", function()
  local over = run_agent("deal_desk", { deal = deal({ budget = 10000 }), as_of = "2026-03-04",
    proposal = { id = "P-acme-12", status = "ready", value = 15000 } })
  eq(over.stage, "closed_lost")
  match(over.deal.lost_reason, "above the budget")
  eq(over.summary, "D-acme-12: proposal -> closed_lost: price 15000 above the budget 10000")
  local unknown = run_agent("deal_desk", { deal = deal({}, { "budget" }), as_of = "2026-03-04",
    proposal = { id = "P-acme-12", status = "ready", value = 15000 } })
  eq(unknown.stage, "negotiation")
  eq(unknown.status, "open")
  eq(unknown.summary, "D-acme-12: proposal -> negotiation, 15000 USD open "
    .. "(the budget is unknown: negotiation until staff post the outcome)")
end)

test("updates: no going back, closed_won needs signed_on", function()
  local r = run_agent("deal_desk", { deal = deal(), as_of = "2026-03-10", updates = {
    { stage = "negotiation", on = "2026-03-02" },
    { stage = "proposal", on = "2026-03-03" },
    { stage = "closed_won", on = "2026-03-04" },
    { stage = "closed_won", on = "2026-03-05", signed_on = "2026-03-05", value = 14000 },
    { stage = "closed_lost", lost_reason = "changed their mind" },
  } })
  eq(r.stage, "closed_won")
  eq(r.deal.value, 14000)
  eq(r.deal.signed_on, "2026-03-05")
  eq(#r.history, 2)
  eq(r.rejected_updates, {
    { index = 1, stage = "proposal", reason = "cannot move back from negotiation to proposal" },
    { index = 2, stage = "closed_won", reason = "closed_won needs signed_on" },
    { index = 4, stage = "closed_lost", reason = "the deal is already closed_won" },
  })
  eq(r.summary, "D-acme-12: proposal -> closed_won, 14000 USD signed 2026-03-05; 3 updates refused")
end)

test("closed_lost needs a reason; closed_won not straight from qualified", function()
  local r = run_agent("deal_desk", { deal = deal({ stage = "qualified" }, { "proposal_id" }), as_of = "2026-03-10",
    updates = { { stage = "closed_won", signed_on = "2026-03-05", proposal_id = "P-1" },
                { stage = "closed_lost" },
                { stage = "closed_lost", lost_reason = "went with a freelancer" } } })
  eq(r.stage, "closed_lost")
  eq(r.rejected_updates[1].reason, "closed_won only from proposal or negotiation, not qualified")
  eq(r.rejected_updates[2].reason, "closed_lost needs a lost_reason")
  eq(r.deal.lost_reason, "went with a freelancer")
end)

test("no updates and no proposal: nothing changes", function()
  local r = run_agent("deal_desk", { deal = deal({ stage = "qualified" }, { "proposal_id" }), as_of = "2026-03-10" })
  eq(r.stage, "qualified")
  eq(r.status, "open")
  eq(r.decided_by, "none")
  eq(r.summary, "D-acme: stays qualified (no updates and no proposal: nothing to decide)")
end)
