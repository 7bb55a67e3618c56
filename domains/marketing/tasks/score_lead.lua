-- Task type marketing.score_lead: score ONE inbound lead (agent lead_scorer). A qualified lead
-- (MQL) is handed to sales.qualify_lead by handoffs/to_sales.lua, so every qualified lead gets
-- exactly one sales task.
local SOURCES = { "linkedin_ads", "google_search", "content_seo", "email", "webinars", "partnerships", "events",
                  "referral", "organic", "other" }
local COUNT = { type = "integer", minimum = 0, maximum = 100000 }

return {
  agent = "lead_scorer",
  description = "Score one inbound lead on fit and engagement: an MQL score 0-100 with the reasons",
  timeout = 30,
  max_attempts = 3,
  input = {
    type = "object",
    required = { "email", "company" },
    properties = {
      email         = { type = "string", format = "email" },
      company       = { type = "string", minLength = 1, maxLength = 200 },
      name          = { type = "string", maxLength = 200 },
      title         = { type = "string", maxLength = 120, description = "Job title: sets authority" },
      industry      = { type = "string", maxLength = 80 },
      employees     = { type = "integer", minimum = 1, maximum = 10000000 },
      country       = { type = "string", maxLength = 80 },
      budget        = { type = "number", minimum = 0, description = "Stated budget in the offer's currency" },
      timeline_days = { type = "integer", minimum = 0, maximum = 3650 },
      need          = { type = "string", enum = { "high", "medium", "low" } },
      notes         = { type = "string", maxLength = 5000 },
      source        = { type = "string", enum = SOURCES },
      engagement = {
        type = "object",
        properties = {
          email_opens        = COUNT,
          email_clicks       = COUNT,
          page_views         = COUNT,
          pricing_page_views = COUNT,
          content_downloads  = COUNT,
          webinar_attended   = { type = "boolean" },
          demo_requested     = { type = "boolean" },
          last_activity_days = { type = "integer", minimum = 0, maximum = 3650 },
        },
        additionalProperties = false,
      },
      offer = {
        type = "object",
        required = { "slug" },
        properties = {
          slug    = { type = "string", pattern = "^[a-z0-9][a-z0-9%-]*$", maxLength = 80 },
          version = { type = "integer", minimum = 1 },
          name    = { type = "string", maxLength = 200 },
        },
        additionalProperties = false,
      },
      campaign = { type = "string", maxLength = 120, description = "Campaign slug the lead came from" },
    },
    additionalProperties = false,
  },
}
