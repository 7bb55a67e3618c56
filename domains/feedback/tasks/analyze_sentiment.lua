-- Task type feedback.analyze_sentiment: a project's survey responses -> sentiment, themes and NPS
-- (agent sentiment_analyst). Fed by feedback.collect_feedback (handoffs/to_analysis.lua); hands off
-- to feedback.aggregate_insights (handoffs/to_insights.lua).
return {
  agent = "sentiment_analyst",
  description = "Analyse a project's survey responses: sentiment, themes and NPS",
  timeout = 60,
  max_attempts = 3,
  cpu_budget = 150000000, -- about 25M instructions per MB of responses; inputs stay under the body limit
  input = {
    type = "object",
    required = { "project", "responses" },
    properties = {
      project = {
        type = "object",
        required = { "id" },
        properties = {
          id     = { type = { "string", "integer" } },
          name   = { type = "string", maxLength = 200 },
          client = { type = "string", maxLength = 200 },
        },
        additionalProperties = true,
      },
      offer = {
        type = "object",
        required = { "slug", "version" },
        properties = {
          slug    = { type = "string", pattern = "^[a-z0-9][a-z0-9%-]*$", maxLength = 80 },
          version = { type = "integer", minimum = 1 },
          name    = { type = "string", maxLength = 200 },
          spec    = { type = "object" },
        },
        additionalProperties = true,
      },
      survey_id = { type = "string", maxLength = 200 },
      responses = {
        type = "array", minItems = 1, maxItems = 500,
        items = {
          type = "object",
          properties = {
            respondent   = { type = "string", maxLength = 200 },
            role         = { type = "string", maxLength = 120 },
            score        = { type = "integer", minimum = 0, maximum = 10 },
            comment      = { type = "string", maxLength = 5000 },
            answers      = { type = "object", additionalProperties = { type = { "string", "number", "boolean" } } },
            submitted_at = { type = "string", format = "date-time" },
          },
          additionalProperties = false,
        },
      },
    },
    additionalProperties = false,
  },
}
