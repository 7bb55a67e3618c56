-- Task type fulfillment.track_delivery: milestone updates -> status, slips and risks of a project.
-- Created by handoffs/plan_to_tracking.lua from the plan (mode set in that file), or by staff
-- posting the plan's project and milestones with their updates.
local MILESTONE = {
  type = "object",
  required = { "id", "name", "due" },
  properties = {
    id           = { type = "string", pattern = "^M%d+$" },
    name         = { type = "string", minLength = 1, maxLength = 300 },
    kind         = { type = "string", enum = { "kickoff", "deliverable" } },
    deliverable  = { type = "string", minLength = 1, maxLength = 300 },
    owner        = { type = "string", maxLength = 120 },
    owner_role   = { type = "string", maxLength = 60 },
    start        = { type = "string", format = "date" },
    due          = { type = "string", format = "date" },
    working_days = { type = "integer", minimum = 1, maximum = 400 },
    budget       = { type = "number", minimum = 0 },
    checks       = { type = "array", maxItems = 30, items = { type = "string", minLength = 1, maxLength = 80 } },
    checks_done  = { type = "array", maxItems = 30, items = { type = "string", minLength = 1, maxLength = 80 } },
    status       = { type = "string", enum = { "planned", "in_progress", "done", "blocked" } },
    completed_on = { type = "string", format = "date" },
    forecast_due = { type = "string", format = "date" },
  },
  additionalProperties = true,
}

return {
  agent = "delivery_tracker",
  description = "Apply milestone updates to a project plan: slips in working days, risks, delivery status",
  timeout = 60,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "project", "milestones" },
    additionalProperties = false,
    properties = {
      project = {
        type = "object",
        required = { "id", "name", "client" },
        properties = {
          id       = { type = "string", pattern = "^[%w%-_]+$", maxLength = 80 },
          name     = { type = "string", minLength = 1, maxLength = 300 },
          client   = { type = "string", minLength = 1, maxLength = 200 },
          end_date = { type = "string", format = "date" },
        },
        additionalProperties = true,
      },
      milestones = { type = "array", minItems = 1, maxItems = 60, items = MILESTONE },
      updates = {
        type = "array",
        maxItems = 200,
        items = {
          type = "object",
          required = { "milestone", "status" },
          additionalProperties = false,
          properties = {
            milestone    = { type = "string", pattern = "^M%d+$" },
            status       = { type = "string", enum = { "in_progress", "done", "blocked" } },
            completed_on = { type = "string", format = "date" },
            forecast_due = { type = "string", format = "date" },
            checks_done  = { type = "array", maxItems = 30, items = { type = "string", minLength = 1, maxLength = 80 } },
            note         = { type = "string", maxLength = 1000 },
          },
        },
      },
      mode     = { type = "string", enum = { "track", "simulate" },
                   description = "simulate: open milestones are done on their due dates (offline runs)" },
      as_of    = { type = "string", format = "date", description = "Default: today (UTC)" },
      holidays = { type = "array", maxItems = 366, items = { type = "string", format = "date" } },
      qa       = { type = "object", description = "The plan's QA window, passed on to the QA review" },
    },
  },
}
