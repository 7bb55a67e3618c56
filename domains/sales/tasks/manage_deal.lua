-- Task type sales.manage_deal: move a deal through its stages to closed_won / closed_lost.
-- Created by handoffs/proposal_to_deal.lua (deal + proposal, no updates: the deal desk decides from
-- the proposal) or by staff with explicit stage updates.
local STAGES = { "qualified", "proposal", "negotiation", "closed_won", "closed_lost" }

return {
  agent = "deal_desk",
  description = "Apply stage updates to a deal (or decide from its proposal) until closed_won or closed_lost",
  timeout = 30,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "deal" },
    additionalProperties = false,
    properties = {
      deal = {
        type = "object",
        required = { "client", "contact_email" },
        additionalProperties = false,
        properties = {
          id            = { type = "string", pattern = "^[%w%-_]+$", maxLength = 80 },
          client        = { type = "string", minLength = 1, maxLength = 200 },
          contact_email = { type = "string", format = "email" },
          contact_name  = { type = "string", maxLength = 200 },
          value         = { type = "number", minimum = 0 },
          currency      = { type = "string", pattern = "^%u%u%u$" },
          tier          = { type = "string", maxLength = 80 },
          offer         = { type = "string", maxLength = 200, description = "The offer's name" },
          offer_slug    = { type = "string", pattern = "^[%w%-]+$", maxLength = 80 },
          offer_version = { type = "integer", minimum = 1 },
          budget        = { type = "number", minimum = 0 },
          stage         = { type = "string", enum = { "qualified", "proposal", "negotiation" },
                            description = "The current stage (a closed deal is not managed any more)" },
          proposal_id   = { type = "string", minLength = 1, maxLength = 80 },
          deliverables  = { type = "array", maxItems = 50, items = { type = "string", minLength = 1, maxLength = 300 } },
          lead_score    = { type = "integer", minimum = 0, maximum = 100 },
          signed_on     = { type = "string", format = "date" },
        },
      },
      proposal = {
        type = "object",
        required = { "id", "status" },
        properties = {
          id          = { type = "string", minLength = 1, maxLength = 80 },
          status      = { type = "string", enum = { "ready", "approved", "rejected", "pending_approval" } },
          value       = { type = "number", minimum = 0 },
          fits_budget = { type = "boolean" },
          comment     = { type = "string", maxLength = 2000 },
        },
        additionalProperties = true,
      },
      updates = {
        type = "array",
        maxItems = 50,
        items = {
          type = "object",
          required = { "stage" },
          additionalProperties = false,
          properties = {
            stage       = { type = "string", enum = STAGES },
            on          = { type = "string", format = "date" },
            note        = { type = "string", maxLength = 1000 },
            value       = { type = "number", minimum = 0 },
            signed_on   = { type = "string", format = "date" },
            lost_reason = { type = "string", minLength = 1, maxLength = 500 },
            proposal_id = { type = "string", minLength = 1, maxLength = 80 },
          },
        },
      },
      as_of = { type = "string", format = "date", description = "The day decisions are dated (default: today, UTC)" },
    },
  },
}
