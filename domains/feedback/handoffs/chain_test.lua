-- The feedback chain through its task types, as the engine runs it: a completed project with its
-- survey responses -> sentiment and NPS -> insights -> offer.refine_offer (run with `agency test`).

local PROJECT = {
  project = { id = "prj-7", name = "Acme SEO Sprint", client = "Acme", completed_at = "2026-05-15",
              deliverables = { "Audit", "Articles" }, on_time = false },
  offer = { slug = "seo-growth-sprint", version = 1, name = "SEO Growth Sprint" },
  responses = {
    { respondent = "Ana", score = 6, comment = "Great strategy, but updates were slow and we had to chase for status." },
    { respondent = "Ben", score = 9, comment = "Knowledgeable team and an excellent audit." },
    { respondent = "Cy", score = 5, comment = "Communication was not clear." },
  },
}

test("a project with responses flows to a refinement of its offer", function()
  local survey, h1 = run_task("feedback.collect_feedback", PROJECT)
  eq(survey.status, "responses_received")
  eq(h1[1].to, "feedback.analyze_sentiment")
  eq(h1[1].status, "accepted")

  local analysis, h2 = run_task("feedback.analyze_sentiment", h1[1].input)
  eq(analysis.nps, (1 - 2) * 100 / 3)
  eq(h2[1].to, "feedback.aggregate_insights")

  local insights, h3 = run_task("feedback.aggregate_insights", h2[1].input)
  eq(insights.refine, true)
  eq(insights.newly_actionable, { "communication" })
  eq({ h3[1].name, h3[1].status, h3[1].to }, { "to_offer", "accepted", "offer.refine_offer" })
  eq(h3[1].input.offer, { slug = "seo-growth-sprint", version = 1, name = "SEO Growth Sprint" })
  eq(h3[1].input.insights[1].id, "seo-growth-sprint:v1:communication")
end)

test("a project still waiting for its responses stops at the survey", function()
  local survey, handoffs = run_task("feedback.collect_feedback", { project = PROJECT.project, offer = PROJECT.offer })
  eq(survey.status, "sent")
  eq(#handoffs, 0)
end)

test("the entry schema rejects a response score outside 0-10", function()
  raises(function()
    run_task("feedback.collect_feedback", { project = PROJECT.project, responses = { { score = 11 } } })
  end, "responses%[0%]%.score: must be at most 10")
end)
