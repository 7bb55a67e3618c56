-- Marketing domain: campaign briefs for offers, their content, and inbound lead scoring (MQLs).
-- Memory: brief:<offer slug> (the latest brief's ideal customer profile, read by the lead scorer),
--         lead:<email> (the lead's latest MQL score).
return {
  description = "Plan campaigns for offers, write their content and score inbound leads",
  concurrency = 64,
  max_attempts = 3,
  entry = "plan_campaign", -- a workflow that starts in "marketing" runs marketing.plan_campaign
  -- Settings, read by the agents through ctx.config.
  mql_threshold = 60,   -- marketing.score_lead: score >= this = MQL, handed to sales.qualify_lead
  campaign = {
    weeks = 4,                 -- default campaign length
    budget_tier_multiple = 1.5, -- default budget = 1.5 x the median tier price ...
    min_budget = 2000,          -- ... but at least this
  },
}
