-- Tests for handoffs/to_content.lua (run with `agency test domains/marketing`).

local BRIEF = {
  offer = { slug = "seo-growth-sprint", version = 1, name = "SEO Growth Sprint", currency = "USD",
            tiers = { { name = "Starter", price = 4450, includes = { "Audit" } } } },
  campaign = { slug = "seo-growth-sprint-v1", name = "Pipeline", start_date = "2026-03-02",
               end_date = "2026-03-29", budget = 12000 },
  messages = { { persona = "Head of Marketing", headline = "Traffic is not pipeline", body = "We fix that.",
                 cta = "Book" } },
  calendar = { { date = "2026-03-02", weekday = "Monday", week = 1, channel = "content_seo",
                 format = "blog article", topic = "Audits", persona = "Head of Marketing" } },
  channels = { { channel = "content_seo", budget = 12000 } },
}

test("a brief becomes a marketing.write_content input", function()
  local h = run_handoff("to_content", BRIEF, { task_id = 1, input = {} })
  eq(h.status, "accepted")
  eq(h.input.campaign, { slug = "seo-growth-sprint-v1", name = "Pipeline", start_date = "2026-03-02" })
  eq(h.input.calendar, BRIEF.calendar)
  eq(h.input.offer.slug, "seo-growth-sprint")
end)

test("a brief with an empty calendar is rejected", function()
  local h = run_handoff("to_content", { campaign = { slug = "x" }, calendar = {}, messages = {} },
    { task_id = 2, input = {} })
  eq(h.status, "rejected")
  eq(h.reasons, { "the brief has an empty content calendar", "the brief has no key messages" })
end)
