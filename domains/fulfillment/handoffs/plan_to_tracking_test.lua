-- Tests of handoffs/plan_to_tracking.lua. Run: agency test domains/fulfillment

local DEAL = { id = "D-acme-17", client = "Acme", contact_email = "ana@example.com", value = 15000, currency = "USD",
               deliverables = { "Website redesign", "8 blog articles" }, signed_on = "2026-03-06" }

local function meta() return { task_id = 20, task_type = "fulfillment.plan_project", domain = "fulfillment",
                               input = { deal = DEAL } } end

test("a plan becomes a track_delivery input (simulated, so the loop runs on its own)", function()
  local plan = run_agent("project_planner", { deal = DEAL, holidays = { "2026-04-03" } })
  local h = run_handoff("plan_to_tracking", plan, meta())
  eq(h.status, "accepted")
  eq(h.input.project, plan.project)
  eq(h.input.milestones, plan.milestones)
  eq(h.input.qa, plan.qa)
  eq(h.input.holidays, { "2026-04-03" })
  eq(h.input.mode, "simulate")
end)

test("the chain: tracking the handed-over plan delivers it", function()
  local plan = run_agent("project_planner", { deal = DEAL })
  local r = run_agent("delivery_tracker", run_handoff("plan_to_tracking", plan, meta()).input)
  eq(r.all_done, true)
  eq(r.projected_end, plan.project.end_date)
end)

test("a plan without milestones is rejected", function()
  local h = run_handoff("plan_to_tracking", { project = { id = "PRJ-1" }, milestones = {} }, meta())
  eq(h.status, "rejected")
  eq(h.reasons, { "the plan has no milestones" })
end)
