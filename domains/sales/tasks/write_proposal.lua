-- Task type sales.write_proposal: a qualified lead (and the offer it came in on) -> a proposal with
-- the tier that fits the budget. Created by handoffs/qualified_to_proposal.lua; may wait for a human
-- approval (task.approve) when the deal is above config.lua approval_threshold.
local TIER = {
  type = "object",
  required = { "name", "price" },
  properties = {
    name = { type = "string", minLength = 1, maxLength = 80 },
    price = { type = "number", minimum = 0 },
    includes = { type = "array", maxItems = 50, items = { type = "string", minLength = 1, maxLength = 300 } },
  },
}

return {
  agent = "proposal_writer",
  description = "Write a proposal for a qualified lead: the offer tier that fits the budget, priced, approved above the threshold",
  timeout = 60,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "lead" },
    additionalProperties = false,
    properties = {
      lead = {
        type = "object",
        required = { "email", "company" },
        properties = {
          email         = { type = "string", format = "email" },
          company       = { type = "string", minLength = 1, maxLength = 200 },
          name          = { type = "string" },
          budget        = { type = "number", minimum = 0, description = "Budget in the offer's currency" },
          authority     = { type = "string", enum = { "decision_maker", "influencer", "user", "unknown" } },
          need          = { type = "string", enum = { "high", "medium", "low" } },
          timeline_days = { type = "integer", minimum = 0, maximum = 3650 },
          score         = { type = "integer", minimum = 0, maximum = 100, description = "BANT score (qualifier)" },
          tier          = { type = "string", enum = { "hot", "warm", "cold" } },
          notes         = { type = "string", maxLength = 5000 },
          source        = { type = "string" },
        },
        additionalProperties = true,
      },
      offer = {
        type = "object",
        required = { "name", "tiers" },
        description = "An offer spec (offer.package_service's result); the tiers are what is sold",
        properties = {
          name = { type = "string", minLength = 1, maxLength = 200 },
          slug = { type = "string", pattern = "^[%w%-]+$", maxLength = 80 },
          version = { type = "integer", minimum = 1 },
          currency = { type = "string", pattern = "^%u%u%u$" },
          tiers = { type = "array", minItems = 1, maxItems = 10, items = TIER },
          deliverables = { type = "array", maxItems = 50, items = { type = "string" } },
          guarantees = { type = "array", maxItems = 20, items = { type = "string" } },
        },
        additionalProperties = true,
      },
      offer_slug = { type = "string", pattern = "^[%w%-]+$", maxLength = 80,
                     description = "Read the offer from the offer domain's memory (offer:<slug>:latest)" },
    },
  },
}
