-- Task type fulfillment.review_quality: the deliverables' acceptance checklists -> pass or fail
-- with the missing items. Created by handoffs/delivery_to_qa.lua when every milestone is done; a
-- pass completes the project and hands it to feedback (handoffs/completed_to_feedback.lua).
return {
  agent = "qa_reviewer",
  description = "Check every deliverable's acceptance checklist before the project completes",
  timeout = 60,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "project", "deliverables" },
    additionalProperties = false,
    properties = {
      project = {
        type = "object",
        required = { "id", "name", "client" },
        properties = {
          id     = { type = "string", pattern = "^[%w%-_]+$", maxLength = 80 },
          name   = { type = "string", minLength = 1, maxLength = 300 },
          client = { type = "string", minLength = 1, maxLength = 200 },
        },
        additionalProperties = true,
      },
      deliverables = {
        type = "array",
        minItems = 1,
        maxItems = 50,
        items = {
          type = "object",
          required = { "name", "checks_done" },
          additionalProperties = false,
          properties = {
            name            = { type = "string", minLength = 1, maxLength = 300 },
            milestone       = { type = "string", pattern = "^M%d+$" },
            checks_required = { type = "array", maxItems = 30, items = { type = "string", minLength = 1, maxLength = 80 } },
            checks_done     = { type = "array", maxItems = 30, items = { type = "string", minLength = 1, maxLength = 80 } },
            completed_on    = { type = "string", format = "date" },
            notes           = { type = "string", maxLength = 2000 },
          },
        },
      },
      on_time   = { type = "boolean" },
      slip_days = { type = "integer", minimum = -400, maximum = 400 },
      as_of     = { type = "string", format = "date-time", description = "When QA signs off (default: now)" },
    },
  },
}
