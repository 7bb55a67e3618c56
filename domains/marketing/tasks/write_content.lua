-- Task type marketing.write_content: a campaign brief -> posts, emails, article outlines, search ads
-- and landing page copy (agent content_writer). Fed by the marketing.plan_campaign ->
-- marketing.write_content handoff (handoffs/to_content.lua).
local CHANNELS = { "linkedin_ads", "google_search", "content_seo", "email", "webinars", "partnerships", "events" }
local S = function(min, max) return { type = "string", minLength = min, maxLength = max } end

return {
  agent = "content_writer",
  description = "Write a campaign's posts, emails, article outlines, search ads and landing page",
  timeout = 180,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "offer", "campaign", "messages", "calendar" },
    properties = {
      offer = {
        type = "object",
        required = { "slug", "version", "name", "tiers" },
        properties = {
          slug              = { type = "string", pattern = "^[a-z0-9][a-z0-9%-]*$", maxLength = 80 },
          version           = { type = "integer", minimum = 1 },
          name              = S(1, 200),
          tagline           = S(0, 200),
          value_proposition = S(0, 2000),
          currency          = { type = "string", pattern = "^%u%u%u$" },
          guarantees        = { type = "array", maxItems = 10, items = S(1, 300) },
          tiers = {
            type = "array", minItems = 1, maxItems = 6,
            items = { type = "object", required = { "name", "price" },
                      properties = { name = S(1, 60), price = { type = "number", exclusiveMinimum = 0 } } },
          },
        },
        additionalProperties = true,
      },
      campaign = {
        type = "object",
        required = { "slug" },
        properties = { slug = S(1, 120), name = S(1, 120), start_date = { type = "string", format = "date" } },
        additionalProperties = false,
      },
      messages = {
        type = "array", minItems = 1, maxItems = 10,
        items = { type = "object", required = { "headline", "body" },
                  properties = { persona = S(0, 80), headline = S(1, 120), body = S(1, 600), cta = S(0, 60) },
                  additionalProperties = false },
      },
      calendar = {
        type = "array", minItems = 1, maxItems = 200,
        items = {
          type = "object",
          required = { "date", "channel" },
          properties = {
            date    = { type = "string", format = "date" },
            weekday = S(1, 10),
            week    = { type = "integer", minimum = 1 },
            channel = { type = "string", enum = CHANNELS },
            format  = S(1, 60),
            topic   = S(1, 300),
            persona = S(0, 80),
          },
          additionalProperties = false,
        },
      },
      landing_url = { type = "string", format = "uri" },
    },
    additionalProperties = false,
  },
}
