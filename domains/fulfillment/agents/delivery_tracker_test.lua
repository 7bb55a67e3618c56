-- Tests of agents/delivery_tracker.lua: slips in working days, risks, status, simulate mode.
-- Run: agency test domains/fulfillment

local PROJECT = { id = "PRJ-acme-17", name = "Acme: SEO Growth Sprint", client = "Acme", end_date = "2026-03-31" }
local function milestones()
  return {
    { id = "M1", name = "Kickoff", kind = "kickoff", due = "2026-03-10", checks = { "kickoff_held" } },
    { id = "M2", name = "Website redesign", kind = "deliverable", deliverable = "Website redesign", due = "2026-03-16",
      checks = { "acceptance_criteria", "client_sign_off" } },
    { id = "M3", name = "8 blog articles", kind = "deliverable", deliverable = "8 blog articles", due = "2026-03-20",
      checks = { "acceptance_criteria", "proofread" } },
  }
end

test("on track: done on time, the rest not due yet", function()
  local r = run_agent("delivery_tracker", { project = PROJECT, milestones = milestones(), as_of = "2026-03-11",
    updates = { { milestone = "M1", status = "done", completed_on = "2026-03-10", checks_done = { "kickoff_held" } },
                { milestone = "M2", status = "in_progress" } } })
  eq(r.status, "on_track")
  eq(r.all_done, false)
  eq(r.progress, { done = 1, total = 3 })
  eq(r.slip_days, 0)
  eq(r.projected_end, "2026-03-31")
  eq(r.milestones[1].slip_days, 0)
  eq(r.risks, nil)
  eq(r.summary, "PRJ-acme-17: on_track, 1/3 milestones done, 0 days slip, projected end 2026-03-31")
  ok(#r.narrative > 0 and #r.client_update > 0, "a report")
end)

test("a late milestone slips the ones after it", function()
  local r = run_agent("delivery_tracker", { project = PROJECT, milestones = milestones(), as_of = "2026-03-19",
    updates = { { milestone = "M1", status = "done", completed_on = "2026-03-10", checks_done = { "kickoff_held" } },
                { milestone = "M2", status = "done", completed_on = "2026-03-18",
                  checks_done = { "acceptance_criteria", "client_sign_off" } },
                { milestone = "M3", status = "in_progress" } } })
  eq(r.milestones[2].slip_days, 2)           -- due Monday 16th, done Wednesday 18th
  eq(r.milestones[3].slip_days, 2)           -- carried
  eq(r.milestones[3].projected_due, "2026-03-24")
  eq(r.slip_days, 2)
  eq(r.projected_end, "2026-04-02")
  eq(r.status, "late")
  eq(r.on_time, false)
  eq(r.summary, "PRJ-acme-17: late, 2/3 milestones done, 2 working days slip, projected end 2026-04-02")
  eq(r.risks[1], { milestone = "M2", severity = "low", risk = "M2 Website redesign was delivered 2 working days late" })
end)

test("overdue and blocked milestones are high risks", function()
  local r = run_agent("delivery_tracker", { project = PROJECT, milestones = milestones(), as_of = "2026-03-25",
    updates = { { milestone = "M1", status = "done", completed_on = "2026-03-10", checks_done = { "kickoff_held" } },
                { milestone = "M2", status = "blocked", note = "no access to the CMS" } } })
  eq(r.status, "blocked")
  eq(r.milestones[2].slip_days, 7)           -- 16th -> 25th: 7 working days
  eq(r.risks[1].severity, "high")
  eq(r.risks[1].risk, "M2 Website redesign is 7 working days overdue (due 2026-03-16)")
  eq(r.risks[2].risk, "M2 Website redesign is blocked: no access to the CMS")
  eq(r.summary, "PRJ-acme-17: blocked, 1/3 milestones done, 7 working days slip, projected end 2026-04-09, "
    .. "2 high risks")
end)

test("updates that do not apply are listed, not applied", function()
  local r = run_agent("delivery_tracker", { project = PROJECT, milestones = milestones(), as_of = "2026-03-11",
    updates = { { milestone = "M9", status = "done" },
                { milestone = "M1", status = "done", completed_on = "2026-03-12" },
                { milestone = "M1", status = "done", completed_on = "2026-03-10" },
                { milestone = "M1", status = "in_progress" } } })
  eq(r.ignored_updates, {
    { index = 0, milestone = "M9", reason = "no milestone M9 in the plan" },
    { index = 1, milestone = "M1", reason = "completed_on 2026-03-12 is after as_of 2026-03-11" },
    { index = 3, milestone = "M1", reason = "M1 is done already: it cannot go back to in_progress" },
  })
  eq(r.milestones[1].status, "done")
  match(r.summary, ", 3 updates ignored$")
end)

test("simulate: every milestone done on its due date with its checks", function()
  local r = run_agent("delivery_tracker", { project = PROJECT, milestones = milestones(), mode = "simulate",
                                           as_of = "2026-03-09" })
  eq(r.all_done, true)
  eq(r.status, "delivered")
  eq(r.project.status, "delivered")
  eq(r.as_of, "2026-03-20")
  eq(r.slip_days, 0)
  eq(r.milestones[3].completed_on, "2026-03-20")
  eq(r.milestones[3].checks_done, { "acceptance_criteria", "proofread" })
  eq(r.simulated, true)
  eq(r.summary, "PRJ-acme-17: delivered, 3/3 milestones done, 0 days slip")
end)
