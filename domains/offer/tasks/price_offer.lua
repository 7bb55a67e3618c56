-- Task type offer.price_offer: price a set of tiers from their delivery cost, the target margin and
-- competitor prices (agent pricing_analyst).
return {
  agent = "pricing_analyst",
  description = "Price service tiers from cost, target margin and competitor prices, with the reasoning",
  timeout = 60,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "tiers" },
    properties = {
      currency      = { type = "string", pattern = "^%u%u%u$", description = "ISO 4217, default USD" },
      target_margin = { type = "number", minimum = 0, maximum = 0.9 },
      min_margin    = { type = "number", minimum = 0, maximum = 0.9 },
      tier_step     = { type = "number", minimum = 0, maximum = 2 },
      round_to      = { type = "number", exclusiveMinimum = 0, maximum = 10000 },
      tiers = {
        type = "array", minItems = 1, maxItems = 6,
        items = {
          type = "object",
          required = { "name", "cost" },
          properties = {
            name = { type = "string", minLength = 1, maxLength = 60 },
            cost = { type = "number", exclusiveMinimum = 0, description = "Delivery cost of the tier" },
            competitor_prices = { type = "array", maxItems = 50, items = { type = "number", exclusiveMinimum = 0 } },
          },
          additionalProperties = false,
        },
      },
    },
    additionalProperties = false,
  },
}
