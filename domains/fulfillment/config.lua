-- Fulfillment domain settings.
--   entry     the task a workflow that starts in "fulfillment" runs (fulfillment.plan_project)
--   day_rate  what a working day of delivery costs (in the deal's currency): the project planner
--             sizes each deliverable's milestone as its budget share / day_rate working days.
--   budget_split  shares of the deal value (they add up to 1).
-- The agents read these from ctx.config when the engine passes the domain config; until then their
-- built-in defaults are these same values (tests/scripts/domains_test.lua checks).
return {
  description = "Plan, deliver and quality-check won projects",
  concurrency = 32,
  max_attempts = 3,
  entry = "plan_project",
  day_rate = 1000,
  budget_split = { kickoff = 0.05, delivery = 0.70, qa = 0.10, handover = 0.05, contingency = 0.10 },
}
