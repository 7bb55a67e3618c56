-- Task type feedback.collect_feedback: the entry of the feedback domain and the target of the
-- Fulfillment -> Feedback handoff. Input: the completed project (and the offer it delivered), plus
-- the client's survey responses when they are already in. The survey_builder agent writes the
-- survey; when responses are present the feedback.collect_feedback -> feedback.analyze_sentiment
-- handoff passes them on.
local RESPONSE = {
  type = "object",
  properties = {
    respondent = { type = "string", maxLength = 200, description = "Name or email of who answered" },
    role       = { type = "string", maxLength = 120 },
    score      = { type = "integer", minimum = 0, maximum = 10,
                   description = "Answer to 'How likely are you to recommend us?' (NPS, 0-10)" },
    comment    = { type = "string", maxLength = 5000, description = "Free-text answer" },
    answers    = { type = "object", description = "Other answers by question id",
                   additionalProperties = { type = { "string", "number", "boolean" } } },
    submitted_at = { type = "string", format = "date-time" },
  },
  additionalProperties = false,
}

return {
  agent = "survey_builder",
  description = "Build the client survey for a completed project and collect its responses",
  timeout = 60,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "project" },
    properties = {
      project = {
        type = "object",
        required = { "id", "name", "client" },
        properties = {
          id           = { type = { "string", "integer" }, description = "Project id in fulfillment" },
          name         = { type = "string", minLength = 1, maxLength = 200 },
          client       = { type = "string", minLength = 1, maxLength = 200, description = "Client company" },
          completed_at = { type = "string", description = "ISO date or date-time the project completed",
                           pattern = "^%d%d%d%d%-%d%d%-%d%d" },
          deliverables = { type = "array", maxItems = 50, items = { type = "string", minLength = 1, maxLength = 300 } },
          on_time      = { type = "boolean", description = "false when milestones slipped" },
          budget       = { type = "number", minimum = 0 },
          actual_cost  = { type = "number", minimum = 0 },
          owner        = { type = "string", maxLength = 200 },
        },
        additionalProperties = true,
      },
      offer = {
        type = "object",
        description = "The offer (and version) this project delivered; needed to refine the offer later",
        required = { "slug", "version" },
        properties = {
          slug    = { type = "string", pattern = "^[a-z0-9][a-z0-9%-]*$", maxLength = 80 },
          version = { type = "integer", minimum = 1 },
          name    = { type = "string", maxLength = 200 },
          tier    = { type = "string", maxLength = 80 },
          spec    = { type = "object", description = "The full offer spec, when carried along" },
        },
        additionalProperties = true,
      },
      contact = {
        type = "object",
        properties = {
          name  = { type = "string", maxLength = 200 },
          email = { type = "string", format = "email" },
        },
        additionalProperties = false,
      },
      responses = { type = "array", maxItems = 500, items = RESPONSE },
    },
    additionalProperties = true, -- the Fulfillment -> Feedback handoff may carry more (deal, plan, ...)
  },
}
