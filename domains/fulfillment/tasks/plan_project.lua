-- Task type fulfillment.plan_project: a won deal -> a project plan (milestones with owners and
-- dates, a budget split). The entry of the fulfillment domain; created by the Sales -> Fulfillment
-- handoff (sales/handoffs/won_to_fulfillment.lua) when a deal is closed_won.
return {
  agent = "project_planner",
  description = "Plan a won deal: milestones with owners and working-day dates, and the budget split",
  timeout = 60,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "deal" },
    additionalProperties = false,
    properties = {
      deal = {
        type = "object",
        required = { "client", "contact_email", "value", "deliverables", "signed_on" },
        additionalProperties = false,
        properties = {
          id            = { type = "string", pattern = "^[%w%-_]+$", maxLength = 80 },
          client        = { type = "string", minLength = 1, maxLength = 200 },
          contact_email = { type = "string", format = "email" },
          contact_name  = { type = "string", maxLength = 200 },
          value         = { type = "number", exclusiveMinimum = 0, description = "The deal value: the project budget" },
          currency      = { type = "string", pattern = "^%u%u%u$" },
          tier          = { type = "string", maxLength = 80 },
          offer         = { type = "string", maxLength = 200 },
          offer_slug    = { type = "string", pattern = "^[%w%-]+$", maxLength = 80 },
          offer_version = { type = "integer", minimum = 1 },
          deliverables  = { type = "array", minItems = 1, maxItems = 20,
                            items = { type = "string", minLength = 1, maxLength = 300 } },
          signed_on     = { type = "string", format = "date" },
        },
      },
      start_date = { type = "string", format = "date", description = "Default: the first working day after signed_on" },
      holidays   = { type = "array", maxItems = 366, items = { type = "string", format = "date" } },
      team       = { type = "object", description = "role -> person, e.g. {developer = \"Sam\"}",
                     additionalProperties = { type = "string", minLength = 1, maxLength = 120 } },
      day_rate   = { type = "number", exclusiveMinimum = 0, description = "Default: config.lua day_rate" },
    },
  },
}
