-- Offer domain: turns a service idea into a priced, versioned offer and refines it from client
-- feedback (the Feedback -> Offer handoff). Offers live in this domain's memory:
--   offer:<slug>:v<N>   the spec of version N        offer:<slug>:latest   N of the newest version
return {
  description = "Package services into priced offers and refine them from client feedback",
  concurrency = 16,
  max_attempts = 3,
  entry = "package_service", -- a workflow that starts in "offer" runs offer.package_service
  -- Pricing policy, read by the agents through ctx.config (a task's input may override it).
  pricing = {
    target_margin = 0.45, -- cost-plus margin a tier aims for
    min_margin = 0.20,    -- no price (not even after a feedback price cut) goes below this margin
    round_to = 50,        -- prices are rounded UP to a multiple of this
    tier_step = 0.15,     -- a tier costs at least 15% more than the tier below it
    feedback_price_cut = 0.10, -- pricing complaints cut the entry tier by this much (floored at min_margin)
  },
}
