-- Tests for handoffs/to_insights.lua (run with `agency test domains/feedback`).

local ANALYSIS = {
  project = { id = "prj-1", name = "Acme SEO", client = "Acme" },
  offer = { slug = "seo-growth-sprint", version = 1, name = "SEO Growth Sprint" },
  responses = 4, promoters = 1, passives = 1, detractors = 2, nps = -25,
  sentiment = { label = "mixed", score = 0.06 },
  themes = { { theme = "communication", mentions = 3, negative = 3, positive = 0, neutral = 0,
               sentiment = "negative", quotes = { "updates were slow" } } },
}

test("a project's analysis becomes one entry of feedback.aggregate_insights", function()
  local h = run_handoff("to_insights", ANALYSIS, { task_id = 1, input = {} })
  eq(h.status, "accepted")
  eq(h.input.offer.slug, "seo-growth-sprint")
  eq(#h.input.analyses, 1)
  local a = h.input.analyses[1]
  eq(a.project.id, "prj-1")
  eq({ a.promoters, a.passives, a.detractors }, { 1, 1, 2 })
  eq(a.sentiment, "mixed")
  eq(a.themes[1].negative, 3)
end)

test("a project without an offer is not aggregated", function()
  local h = run_handoff("to_insights", { project = ANALYSIS.project, themes = ANALYSIS.themes },
    { task_id = 2, input = {} })
  eq(h.status, "skipped")
end)

test("an offer without a version is rejected", function()
  local h = run_handoff("to_insights", { project = ANALYSIS.project, offer = { slug = "x" } }, { task_id = 3, input = {} })
  eq(h.status, "rejected")
  eq(h.reasons, { "the offer has no version" })
end)
