-- Sales domain settings.
--   entry               the task a workflow that starts in "sales" runs (sales.qualify_lead)
--   approval_threshold  proposals worth MORE than this (in `currency`) wait for a human decision
--                       (task.approve) before they go out. The proposal writer reads it from
--                       ctx.config when the engine passes the domain config; until then its
--                       built-in default is this same value (tests/scripts/domains_test.lua checks).
--   max_discount_pct    the largest discount the proposal writer may give, by lead tier, to fit
--                       a proposal into the lead's budget.
return {
  description = "Qualify and close leads",
  concurrency = 64,
  max_attempts = 3,
  entry = "qualify_lead",
  currency = "USD",
  approval_threshold = 25000,
  max_discount_pct = { hot = 10, warm = 5, cold = 0 },
}
