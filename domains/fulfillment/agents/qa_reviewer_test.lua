-- Tests of agents/qa_reviewer.lua: pass only when every checklist is complete.
-- Run: agency test domains/fulfillment

local PROJECT = { id = "PRJ-acme-17", name = "Acme: SEO Growth Sprint", client = "Acme" }
local ALL = { "acceptance_criteria", "peer_review", "client_sign_off", "documentation" }

test("every checklist complete: passed, the project is completed", function()
  local r = run_agent("qa_reviewer", { project = PROJECT, as_of = "2026-03-31T16:00:00Z", deliverables = {
    { name = "Website redesign", completed_on = "2026-03-16", checks_required = { "cross_browser_test" },
      checks_done = { "acceptance_criteria", "peer_review", "client_sign_off", "documentation", "cross_browser_test" } },
  } })
  eq(r.passed, true)
  eq(r.verdict, "pass")
  eq(r.project.status, "completed")
  eq(r.project.completed_at, "2026-03-31T16:00:00Z")
  eq(r.deliverables[1], { name = "Website redesign", passed = true, checks = 5, done = 5 })
  eq(r.summary, "PRJ-acme-17: QA passed, 1 deliverable, completed 2026-03-31")
  ok(#r.narrative > 0 and #r.recommendations >= 1, "a QA note")
end)

test("missing items fail the review, standard checks first", function()
  local r = run_agent("qa_reviewer", { project = PROJECT, deliverables = {
    { name = "Website redesign", completed_on = "2026-03-16", checks_required = { "cross_browser_test" },
      checks_done = { "acceptance_criteria", "cross_browser_test" } },
    { name = "8 blog articles", completed_on = "2026-03-20", checks_done = ALL },
  } })
  eq(r.passed, false)
  eq(r.project.status, "in_qa")
  eq(r.project.completed_at, nil)
  eq(r.deliverables[1].missing, { "peer_review", "client_sign_off", "documentation" })
  eq(r.deliverables[2].passed, true)
  eq(r.missing_total, 3)
  eq(r.summary, "PRJ-acme-17: QA failed: 3 items missing (Website redesign)")
end)

test("the standard checks are required even when the checklist omits them", function()
  local r = run_agent("qa_reviewer", { project = PROJECT, deliverables = {
    { name = "Dashboard", completed_on = "2026-03-20", checks_required = { "data_validated" },
      checks_done = { "data_validated" } } } })
  eq(r.passed, false)
  eq(r.deliverables[1].missing, ALL)
end)

test("an undelivered deliverable fails", function()
  local r = run_agent("qa_reviewer", { project = PROJECT, deliverables = { { name = "Dashboard", checks_done = ALL } } })
  eq(r.passed, false)
  eq(r.deliverables[1].missing, { "delivered" })
  eq(r.summary, "PRJ-acme-17: QA failed: 1 item missing (Dashboard)")
end)
