-- Tests of handoffs/completed_to_feedback.lua (Fulfillment -> Feedback).
-- Run: agency test domains/fulfillment (needs the feedback domain's feedback.collect_feedback).

local PROJECT = { id = "PRJ-acme-17", name = "Acme: SEO Growth Sprint (Growth)", client = "Acme",
                  contact_email = "ana@example.com", contact_name = "Ana Lima", owner = "Rita Gomes", budget = 15000,
                  offer = { name = "SEO Growth Sprint", slug = "seo-growth-sprint", version = 1, tier = "Growth" } }
local ALL = { "acceptance_criteria", "peer_review", "client_sign_off", "documentation" }

local function meta(input) return { task_id = 22, task_type = "fulfillment.review_quality", domain = "fulfillment",
                                    input = input } end

local function qa_input(done)
  return { project = PROJECT, as_of = "2026-03-31T16:00:00Z", on_time = true, slip_days = 0, deliverables = {
    { name = "Website redesign", milestone = "M2", completed_on = "2026-03-16", checks_done = done },
    { name = "8 blog articles", milestone = "M3", completed_on = "2026-03-20", checks_done = ALL } } }
end

test("a project that passed QA goes to feedback collection", function()
  local input = qa_input(ALL)
  local h = run_handoff("completed_to_feedback", run_agent("qa_reviewer", input), meta(input))
  eq(h.status, "accepted")
  eq(h.input.project, { id = "PRJ-acme-17", name = "Acme: SEO Growth Sprint (Growth)", client = "Acme",
    deliverables = { "Website redesign", "8 blog articles" }, completed_at = "2026-03-31T16:00:00Z",
    on_time = true, budget = 15000, owner = "Rita Gomes" })
  eq(h.input.offer, { slug = "seo-growth-sprint", version = 1, name = "SEO Growth Sprint", tier = "Growth" })
  eq(h.input.contact, { email = "ana@example.com", name = "Ana Lima" })
  eq(#h.input.responses, 0)
end)

test("a failed QA review hands nothing over", function()
  local input = qa_input({ "acceptance_criteria" })
  eq(run_handoff("completed_to_feedback", run_agent("qa_reviewer", input), meta(input)).status, "skipped")
end)

test("a pass without completion data is rejected", function()
  local h = run_handoff("completed_to_feedback", { passed = true, project = { id = "PRJ-1", name = "X", client = "Y" } },
    meta({}))
  eq(h.status, "rejected")
  eq(h.reasons, { "the project has no completed_at", "the project is not completed" })
end)
