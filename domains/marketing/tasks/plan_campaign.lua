-- Task type marketing.plan_campaign: the entry of the marketing domain and the target of the
-- Offer -> Marketing handoff (domains/offer/handoffs/to_marketing.lua). An offer spec -> a
-- marketing brief (agent campaign_planner); its success hands off to marketing.write_content.
local CHANNELS = { "linkedin_ads", "google_search", "content_seo", "email", "webinars", "partnerships", "events" }
local STRINGS = function(max, maxlen)
  return { type = "array", maxItems = max, items = { type = "string", minLength = 1, maxLength = maxlen } }
end

return {
  agent = "campaign_planner",
  description = "Turn an offer into a marketing brief: personas, channel budgets, messages, content calendar",
  timeout = 90,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "offer" },
    properties = {
      offer = {
        type = "object",
        required = { "slug", "version", "name", "persona", "tiers" },
        properties = {
          slug              = { type = "string", pattern = "^[a-z0-9][a-z0-9%-]*$", maxLength = 80 },
          version           = { type = "integer", minimum = 1 },
          name              = { type = "string", minLength = 1, maxLength = 200 },
          tagline           = { type = "string", maxLength = 200 },
          value_proposition = { type = "string", maxLength = 2000 },
          currency          = { type = "string", pattern = "^%u%u%u$" },
          persona = {
            type = "object",
            required = { "role" },
            properties = {
              role         = { type = "string", minLength = 2, maxLength = 80 },
              company_size = { type = "string", enum = { "1-10", "11-50", "51-200", "201-1000", "1000+" } },
              industries   = STRINGS(10, 60),
              pains        = STRINGS(10, 200),
            },
            additionalProperties = true,
          },
          tiers = {
            type = "array", minItems = 1, maxItems = 6,
            items = {
              type = "object",
              required = { "name", "price" },
              properties = {
                name     = { type = "string", minLength = 1, maxLength = 60 },
                price    = { type = "number", exclusiveMinimum = 0 },
                includes = STRINGS(30, 200),
              },
              additionalProperties = true,
            },
          },
          deliverables   = STRINGS(30, 200),
          guarantees     = STRINGS(10, 300),
          delivery_weeks = { type = "integer", minimum = 1, maximum = 104 },
        },
        additionalProperties = true,
      },
      budget     = { type = "number", exclusiveMinimum = 0, maximum = 10000000 },
      start_date = { type = "string", format = "date", description = "Default: the next Monday" },
      weeks      = { type = "integer", minimum = 1, maximum = 26 },
      channels   = { type = "array", minItems = 1, maxItems = 7, items = { type = "string", enum = CHANNELS },
                     description = "Only these channels (default: the mix for the persona's company size)" },
    },
    additionalProperties = false,
  },
}
