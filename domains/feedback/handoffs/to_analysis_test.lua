-- Tests for handoffs/to_analysis.lua (run with `agency test domains/feedback`).

local SURVEY = {
  project = { id = "prj-1", name = "Acme SEO", client = "Acme", completed_at = "2026-05-15" },
  offer = { slug = "seo-growth-sprint", version = 1 },
  survey = { id = "survey-prj-1" },
  responses = { { respondent = "Ana", score = 9, comment = "Great" } },
  status = "responses_received",
}

test("a survey with responses goes to feedback.analyze_sentiment", function()
  local h = run_handoff("to_analysis", SURVEY, { task_id = 1, input = {} })
  eq(h.status, "accepted")
  eq(h.input.project, { id = "prj-1", name = "Acme SEO", client = "Acme" })
  eq(h.input.survey_id, "survey-prj-1")
  eq(h.input.offer, { slug = "seo-growth-sprint", version = 1 })
  eq(#h.input.responses, 1)
end)

test("a survey still waiting for responses hands off nothing", function()
  local h = run_handoff("to_analysis", { project = SURVEY.project, survey = SURVEY.survey, status = "sent" },
    { task_id = 2, input = {} })
  eq(h.status, "skipped")
end)

test("responses with a bad score are rejected by the target schema", function()
  local bad = { project = SURVEY.project, responses = { { score = 12 } } }
  local h = run_handoff("to_analysis", bad, { task_id = 3, input = {} })
  eq(h.status, "rejected")
  match(h.reasons[1], "responses")
end)
