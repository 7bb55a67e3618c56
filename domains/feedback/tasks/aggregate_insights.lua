-- Task type feedback.aggregate_insights: themes across projects -> offer refinements (agent
-- insights_aggregator). Fed per project by feedback.analyze_sentiment (handoffs/to_insights.lua),
-- or directly with several projects' analyses; when a theme becomes actionable, hands off to
-- offer.refine_offer (handoffs/to_offer.lua).
local COUNT = { type = "integer", minimum = 0 }

return {
  agent = "insights_aggregator",
  description = "Aggregate feedback themes across projects into offer refinements",
  timeout = 60,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "offer", "analyses" },
    properties = {
      offer = {
        type = "object",
        required = { "slug", "version" },
        properties = {
          slug    = { type = "string", pattern = "^[a-z0-9][a-z0-9%-]*$", maxLength = 80 },
          version = { type = "integer", minimum = 1 },
          name    = { type = "string", maxLength = 200 },
          spec    = { type = "object", description = "The offer spec, when carried along" },
        },
        additionalProperties = true,
      },
      analyses = {
        type = "array", minItems = 1, maxItems = 200,
        items = {
          type = "object",
          required = { "project", "themes" },
          properties = {
            project = {
              type = "object", required = { "id" },
              properties = { id = { type = { "string", "integer" } }, name = { type = "string" },
                             client = { type = "string" } },
              additionalProperties = true,
            },
            responses = COUNT, promoters = COUNT, passives = COUNT, detractors = COUNT,
            nps = { type = "number", minimum = -100, maximum = 100 },
            sentiment = { type = "string", enum = { "positive", "negative", "neutral", "mixed" } },
            themes = {
              type = "array", maxItems = 50,
              items = {
                type = "object",
                required = { "theme", "mentions" },
                properties = {
                  theme = { type = "string", pattern = "^[a-z][a-z0-9_]*$", maxLength = 60 },
                  mentions = COUNT, negative = COUNT, positive = COUNT, neutral = COUNT,
                  sentiment = { type = "string", enum = { "positive", "negative", "neutral", "mixed" } },
                  quotes = { type = "array", maxItems = 5, items = { type = "string", maxLength = 500 } },
                },
                additionalProperties = false,
              },
            },
          },
          additionalProperties = false,
        },
      },
    },
    additionalProperties = false,
  },
}
