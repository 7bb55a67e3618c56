-- Tests of agents/project_planner.lua: working-day dates, owners, checklists, budget split.
-- Run: agency test domains/fulfillment

local function deal(t)
  local d = { id = "D-acme-17", client = "Acme", contact_email = "ana@example.com", contact_name = "Ana Lima",
              value = 15000, currency = "USD", tier = "Growth", offer = "SEO Growth Sprint",
              offer_slug = "seo-growth-sprint", offer_version = 1,
              deliverables = { "Website redesign", "8 blog articles", "Analytics dashboard" },
              signed_on = "2026-03-06" } -- a Friday
  for k, v in pairs(t or {}) do d[k] = v end
  return d
end

test("milestones one after the other, on working days", function()
  local r = run_agent("project_planner", { deal = deal() })
  local m = r.milestones
  eq(#m, 4)
  eq(r.project.start_date, "2026-03-09")  -- the first working day after Friday's signing: Monday
  eq({ m[1].id, m[1].kind, m[1].start, m[1].due, m[1].working_days }, { "M1", "kickoff", "2026-03-09", "2026-03-10", 2 })
  -- 70% of 15000 over 3 deliverables = 3500 each / 1000 a day -> 4 working days
  eq({ m[2].id, m[2].start, m[2].due, m[2].working_days }, { "M2", "2026-03-11", "2026-03-16", 4 })
  eq({ m[3].start, m[3].due }, { "2026-03-17", "2026-03-20" })
  eq({ m[4].start, m[4].due }, { "2026-03-23", "2026-03-26" })
  eq({ r.qa.start, r.qa.due }, { "2026-03-27", "2026-03-30" })
  eq({ r.handover.start, r.handover.due }, { "2026-03-31", "2026-03-31" })
  eq(r.project.end_date, "2026-03-31")
  eq(r.project.id, "PRJ-acme-17")
  eq(r.project.status, "planned")
  eq(r.project.offer, { name = "SEO Growth Sprint", slug = "seo-growth-sprint", version = 1, tier = "Growth" })
  eq(r.summary, "PRJ-acme-17: 4 milestones 2026-03-09 to 2026-03-31, budget 15000 USD")
end)

test("owners by the words of each deliverable, and their checklists", function()
  local r = run_agent("project_planner", { deal = deal(), team = { developer = "Sam Ortiz" } })
  local m = r.milestones
  eq({ m[1].owner_role, m[2].owner_role, m[3].owner_role, m[4].owner_role },
     { "account_manager", "developer", "content_lead", "data_analyst" })
  eq(m[2].owner, "Sam Ortiz")
  eq(m[3].owner, "content_lead")         -- no one named: the role
  eq(m[2].checks, { "acceptance_criteria", "peer_review", "client_sign_off", "documentation",
                    "cross_browser_test", "performance_check" })
  eq(m[3].checks[5], "proofread")
end)

test("the budget split adds up to the deal value, to the cent", function()
  local r = run_agent("project_planner", { deal = deal({ value = 10000.01 }) })
  local total = 0
  for _, l in ipairs(r.budget.lines) do total = total + math.floor(l.amount * 100 + 0.5) end
  eq(total, 1000001)
  eq(r.budget.lines[1], { item = "Kickoff and discovery", amount = 500 })
  eq(r.budget.lines[#r.budget.lines].item, "Contingency")
  eq(r.summary, "PRJ-acme-17: 4 milestones 2026-03-09 to 2026-03-26, budget 10000.01 USD")
  ok(r.narrative and #r.narrative > 0, "the model's narrative")
  ok(#r.risks >= 1, "risks")
end)

test("holidays and a weekend start date are skipped", function()
  local r = run_agent("project_planner", { deal = deal(), start_date = "2026-03-08", holidays = { "2026-03-10" } })
  eq(r.project.start_date, "2026-03-09")
  eq({ r.milestones[1].start, r.milestones[1].due }, { "2026-03-09", "2026-03-11" })
end)

test("small deals get at least 2 working days per deliverable; big ones at most 30", function()
  eq(run_agent("project_planner", { deal = deal({ value = 1000 }) }).milestones[2].working_days, 2)
  eq(run_agent("project_planner", { deal = deal({ value = 1000000 }) }).milestones[2].working_days, 30)
end)

test("a deal without deliverables fails clearly", function()
  raises(function() run_agent("project_planner", { deal = deal({ deliverables = {} }) }) end, "deliverables")
end)
