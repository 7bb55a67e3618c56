-- Tests of handoffs/delivery_to_qa.lua. Run: agency test domains/fulfillment

local PROJECT = { id = "PRJ-acme-17", name = "Acme: SEO Growth Sprint", client = "Acme", end_date = "2026-03-20" }
local MILESTONES = {
  { id = "M1", name = "Kickoff", kind = "kickoff", due = "2026-03-10", checks = { "kickoff_held" } },
  { id = "M2", name = "Website redesign", kind = "deliverable", deliverable = "Website redesign", due = "2026-03-16",
    checks = { "acceptance_criteria", "peer_review", "client_sign_off", "documentation", "cross_browser_test" } },
}

local function meta() return { task_id = 21, task_type = "fulfillment.track_delivery", domain = "fulfillment",
                               input = { project = PROJECT, milestones = MILESTONES } } end

test("all milestones done: the deliverables and their checklists go to QA", function()
  local r = run_agent("delivery_tracker", { project = PROJECT, milestones = MILESTONES, as_of = "2026-03-18",
    updates = { { milestone = "M1", status = "done", completed_on = "2026-03-10" },
                { milestone = "M2", status = "done", completed_on = "2026-03-17",
                  checks_done = { "acceptance_criteria", "peer_review" } } } })
  local h = run_handoff("delivery_to_qa", r, meta())
  eq(h.status, "accepted")
  eq(h.input.deliverables, { { name = "Website redesign", milestone = "M2", completed_on = "2026-03-17",
    checks_required = MILESTONES[2].checks, checks_done = { "acceptance_criteria", "peer_review" } } })
  eq(h.input.on_time, false)
  eq(h.input.slip_days, 1)
  eq(h.input.project.id, "PRJ-acme-17")
  -- and QA fails it: three checks are open
  local qa = run_agent("qa_reviewer", h.input)
  eq(qa.passed, false)
  eq(qa.deliverables[1].missing, { "client_sign_off", "documentation", "cross_browser_test" })
end)

test("still in delivery: no handoff", function()
  local r = run_agent("delivery_tracker", { project = PROJECT, milestones = MILESTONES, as_of = "2026-03-11",
    updates = { { milestone = "M1", status = "done", completed_on = "2026-03-10" } } })
  eq(run_handoff("delivery_to_qa", r, meta()).status, "skipped")
end)

test("nothing to review is rejected", function()
  local h = run_handoff("delivery_to_qa", { all_done = true, project = PROJECT,
    milestones = { { id = "M1", name = "Kickoff", kind = "kickoff" } } }, meta())
  eq(h.status, "rejected")
  eq(h.reasons, { "no deliverable milestones to review" })
end)
