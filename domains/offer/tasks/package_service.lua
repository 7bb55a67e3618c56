-- Task type offer.package_service: the entry of the offer domain. A service idea plus market
-- insights -> an offer spec (version 1) with tiers, prices and guarantees (agent service_packager).
-- Its success hands off to marketing.plan_campaign (handoffs/to_marketing.lua); the optional
-- `launch` settings are passed on to the campaign.
local STRINGS = function(max, maxlen)
  return { type = "array", maxItems = max, items = { type = "string", minLength = 1, maxLength = maxlen } }
end

return {
  agent = "service_packager",
  description = "Package a service idea and market insights into a priced offer",
  timeout = 90,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "service", "deliverables", "base_cost" },
    properties = {
      service = {
        type = "object",
        required = { "name", "description" },
        properties = {
          name           = { type = "string", minLength = 3, maxLength = 80 },
          description    = { type = "string", minLength = 20, maxLength = 4000 },
          category       = { type = "string", maxLength = 60 },
          delivery_weeks = { type = "integer", minimum = 1, maximum = 52 },
        },
        additionalProperties = false,
      },
      slug = { type = "string", pattern = "^[a-z0-9][a-z0-9%-]*$", maxLength = 60,
               description = "Default: made from service.name" },
      deliverables = { type = "array", minItems = 1, maxItems = 20,
                       items = { type = "string", minLength = 3, maxLength = 200 } },
      base_cost = { type = "number", exclusiveMinimum = 0, description = "Delivery cost of the entry tier" },
      tiers = {
        type = "array", minItems = 1, maxItems = 5,
        description = "Default: Starter x1, Growth x1.8, Scale x3",
        items = {
          type = "object",
          required = { "name", "cost_multiplier" },
          properties = {
            name            = { type = "string", minLength = 1, maxLength = 60 },
            cost_multiplier = { type = "number", minimum = 1, maximum = 20 },
            extras          = STRINGS(10, 200),
          },
          additionalProperties = false,
        },
      },
      competitor_prices = { type = "array", maxItems = 50, items = { type = "number", exclusiveMinimum = 0 },
                            description = "Competitors' prices for a comparable entry package" },
      persona = {
        type = "object",
        required = { "role" },
        properties = {
          role         = { type = "string", minLength = 2, maxLength = 80 },
          company_size = { type = "string", enum = { "1-10", "11-50", "51-200", "201-1000", "1000+" } },
          industries   = STRINGS(10, 60),
          pains        = STRINGS(10, 200),
        },
        additionalProperties = false,
      },
      insights      = STRINGS(20, 500),
      guarantees    = STRINGS(6, 300),
      currency      = { type = "string", pattern = "^%u%u%u$" },
      target_margin = { type = "number", minimum = 0, maximum = 0.9 },
      launch = {
        type = "object",
        description = "Passed on to marketing.plan_campaign",
        properties = {
          budget     = { type = "number", exclusiveMinimum = 0 },
          start_date = { type = "string", format = "date" },
          weeks      = { type = "integer", minimum = 1, maximum = 26 },
        },
        additionalProperties = false,
      },
    },
    additionalProperties = false,
  },
}
