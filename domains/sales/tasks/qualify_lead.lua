-- Task type sales.qualify_lead: score an inbound lead (BANT) with the
-- "qualifier" agent. The input is validated against `input` before the
-- agent runs; see docs/scripting.md for the schema keywords.
return {
  agent = "qualifier",
  description = "Score an inbound lead on budget, authority, need and timeline",
  timeout = 30,       -- seconds
  max_attempts = 3,
  input = {
    type = "object",
    required = { "email", "company" },
    properties = {
      email         = { type = "string", format = "email", description = "Lead's work email" },
      company       = { type = "string", minLength = 1, maxLength = 200 },
      name          = { type = "string" },
      budget        = { type = "number", minimum = 0, description = "Budget in USD" },
      authority     = { type = "string", enum = { "decision_maker", "influencer", "user", "unknown" } },
      need          = { type = "string", enum = { "high", "medium", "low" } },
      timeline_days = { type = "integer", minimum = 0, maximum = 3650 },
      notes         = { type = "string", maxLength = 5000 },
      source        = { type = "string" },
      -- Optional, passed on to sales.write_proposal by handoffs/qualified_to_proposal.lua: the offer
      -- the lead came in on, either the spec itself (offer.package_service's result: name, tiers =
      -- [{name, price, includes}]) or its slug in the offer domain's memory (offer:<slug>:latest).
      offer         = { type = "object", required = { "name" },
                        properties = { name = { type = "string", minLength = 1, maxLength = 200 } } },
      offer_slug    = { type = "string", pattern = "^[%w%-]+$", maxLength = 80 },
    },
    additionalProperties = true,
  },
}
