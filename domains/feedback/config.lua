-- Feedback domain: after delivery, survey the client, analyse sentiment, themes and NPS, and turn
-- the themes across projects into offer refinements (the Feedback -> Offer handoff).
-- Memory: survey:<project id>; insights:<offer slug>:v<version>:... (theme counters per offer version).
return {
  description = "Survey clients after delivery, measure sentiment and NPS, and turn themes into offer refinements",
  concurrency = 32,
  max_attempts = 3,
  entry = "collect_feedback", -- a workflow that starts in "feedback" runs feedback.collect_feedback
  -- Settings, read by the agents through ctx.config.
  refine_at_mentions = 2, -- a theme with this many negative mentions (one offer version, all projects) refines the offer
  survey_due_days = 7,    -- answers are due this many days after the project completed
}
