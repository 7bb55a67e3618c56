-- Task type marketing.nurture_lead: a lost deal's contact -> a nurture sequence (agent
-- nurture_planner). The target of the sales domain's Sales -> Marketing handoff
-- (domains/sales/handoffs/lost_to_nurture.lua), whose transform produces this input.
return {
  agent = "nurture_planner",
  description = "Plan the nurture emails for a lost deal's contact until it is worth another try",
  timeout = 60,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "email", "company" },
    properties = {
      email           = { type = "string", format = "email" },
      company         = { type = "string", minLength = 1, maxLength = 200 },
      name            = { type = "string", maxLength = 200 },
      deal_id         = { type = { "string", "integer" } },
      lost_reason     = { type = "string", maxLength = 500 },
      lost_on         = { type = "string", format = "date" },
      stage_reached   = { type = "string", maxLength = 40 },
      offer           = { type = "string", maxLength = 200, description = "The offer's name" },
      offer_slug      = { type = "string", pattern = "^[%w%-]+$", maxLength = 80 },
      tier            = { type = "string", maxLength = 60 },
      value           = { type = "number", minimum = 0 },
      currency        = { type = "string", pattern = "^%u%u%u$" },
      nurture_in_days = { type = "integer", minimum = 7, maximum = 730 },
      source          = { type = "string", maxLength = 100 },
    },
    additionalProperties = true, -- the Sales -> Marketing handoff may carry more about the deal
  },
}
