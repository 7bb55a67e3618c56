-- Tests of handoffs/proposal_to_deal.lua. Run: agency test domains/sales

local LEAD = { email = "ana@example.com", company = "Acme", name = "Ana Lima", budget = 20000, score = 95, tier = "hot" }

local function meta() return { task_id = 8, task_type = "sales.write_proposal", domain = "sales", input = { lead = LEAD } } end

test("a ready proposal becomes a deal at stage proposal", function()
  local result = run_agent("proposal_writer", { lead = LEAD })
  local h = run_handoff("proposal_to_deal", result, meta())
  eq(h.status, "accepted")
  local d = h.input.deal
  eq(d.client, "Acme")
  eq(d.contact_email, "ana@example.com")
  eq(d.contact_name, "Ana Lima")
  eq(d.value, 15000)
  eq(d.budget, 20000)
  eq(d.stage, "proposal")
  eq(d.proposal_id, result.proposal.id)
  eq(d.deliverables, result.proposal.includes)
  eq(d.lead_score, 95)
  eq(h.input.proposal, { id = result.proposal.id, status = "ready", value = 15000, fits_budget = true })
end)

test("the whole chain decides: the deal desk closes that deal won", function()
  local h = run_handoff("proposal_to_deal", run_agent("proposal_writer", { lead = LEAD }), meta())
  h.input.as_of = "2026-03-04"
  local r = run_agent("deal_desk", h.input)
  eq(r.stage, "closed_won")
end)

test("a rejected proposal is handed over (to be closed lost) with the comment", function()
  local result = run_agent("proposal_writer", { lead = { email = "li@bigco.example.com", company = "BigCo",
    budget = 60000, score = 92, tier = "hot" } }, { approve = { approved = false, comment = "margin too thin" } })
  local h = run_handoff("proposal_to_deal", result, meta())
  eq(h.status, "accepted")
  eq(h.input.proposal.status, "rejected")
  eq(h.input.proposal.comment, "margin too thin")
end)

test("a result without a proposal is no handoff", function()
  eq(run_handoff("proposal_to_deal", { error = "nothing" }, meta()).status, "skipped")
end)

test("a proposal without value or contact is rejected", function()
  local h = run_handoff("proposal_to_deal", { proposal = { id = "P-1", status = "ready", client = "Acme" } }, meta())
  eq(h.status, "rejected")
  eq(h.reasons, { "the proposal has no contact email", "the proposal has no value" })
end)
