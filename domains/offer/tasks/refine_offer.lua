-- Task type offer.refine_offer: make the next version of an offer from feedback insights (agent
-- offer_refiner). The target of the Feedback -> Offer handoff
-- (domains/feedback/handoffs/to_offer.lua).
local INSIGHT = {
  type = "object",
  required = { "theme", "count", "recommendation" },
  properties = {
    id             = { type = "string", minLength = 1, maxLength = 200 },
    theme          = { type = "string", minLength = 1, maxLength = 60 },
    count          = { type = "integer", minimum = 1, description = "Mentions across projects" },
    recommendation = { type = "string", minLength = 1, maxLength = 1000 },
    sentiment      = { type = "string", enum = { "positive", "negative", "neutral", "mixed" } },
    projects       = { type = "integer", minimum = 0 },
    quotes         = { type = "array", maxItems = 5, items = { type = "string", maxLength = 500 } },
  },
  additionalProperties = true,
}

return {
  agent = "offer_refiner",
  description = "Refine an offer from client feedback insights into its next version",
  timeout = 60,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "offer", "insights" },
    properties = {
      offer = {
        type = "object",
        required = { "slug", "version" },
        properties = {
          slug    = { type = "string", pattern = "^[a-z0-9][a-z0-9%-]*$", maxLength = 80 },
          version = { type = "integer", minimum = 1, description = "The version the insights are about" },
          name    = { type = "string", maxLength = 200 },
        },
        additionalProperties = true,
      },
      previous = { type = "object", description = "The previous spec, used when the offer is not in memory" },
      insights = { type = "array", minItems = 1, maxItems = 50, items = INSIGHT },
      nps      = { type = "number", minimum = -100, maximum = 100 },
      source   = { type = "object", description = "Where the insights came from (projects, task ids)" },
    },
    additionalProperties = false,
  },
}
