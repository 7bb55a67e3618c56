-- Tests for agents/survey_builder.lua (run with `agency test domains/feedback`).

local PROJECT = {
  id = "prj-1", name = "Acme SEO Sprint", client = "Acme", completed_at = "2026-05-28",
  deliverables = { "Audit", "Keyword strategy", "On-page fixes", "Articles", "Dashboard", "Training" },
  on_time = false,
}

test("the survey: NPS first, five deliverables, timeline, communication, tailored, open comment last", function()
  local r = run_agent("survey_builder", { project = PROJECT, offer = { slug = "seo", version = 1, name = "SEO Sprint" },
                                          contact = { email = "ana@acme.com" } })
  local q = r.survey.questions
  eq(q[1].id, "nps")
  eq(q[1].text, "How likely are you to recommend our SEO Sprint to a colleague?")
  eq({ q[1].min, q[1].max }, { 0, 10 })
  eq(q[2].id, "csat_1")
  eq(q[6].id, "csat_5") -- at most five deliverable questions
  eq(q[7].id, "timeline")
  eq(q[7].type, "scale") -- the project slipped: ask how much it hurt
  eq(q[8].id, "communication")
  eq(q[#q].id, "comment")
  ok(q[9].tailored, "a tailored question from the model")
  eq(r.survey.id, "survey-prj-1")
  eq(r.survey.send_to, "ana@acme.com")
  eq(r.survey.due_date, "2026-06-04") -- completed + 7 days, across the month end
  eq(r.status, "sent")
  eq(r.response_count, 0)
  eq(r.responses, nil)
end)

test("an on-time project gets a yes/no timeline question; responses are passed on", function()
  local p = { id = 7, name = "Beta", client = "Beta Ltd", on_time = true }
  local r = run_agent("survey_builder", { project = p, responses = { { score = 9, comment = "Great" } } })
  local timeline
  for _, q in ipairs(r.survey.questions) do
    if q.id == "timeline" then timeline = q end
  end
  eq(timeline.type, "yes_no")
  eq(r.survey.id, "survey-7")
  eq(r.status, "responses_received")
  eq(r.response_count, 1)
  eq(r.responses[1].score, 9)
end)

test("bad input names the field", function()
  raises(function() run_agent("survey_builder", { project = { id = "x", name = "X" } }) end,
    "input%.project%.client is required")
  raises(function()
    run_agent("survey_builder", { project = { id = "x", name = "X", client = "Y" }, responses = { { score = 11 } } })
  end, "input%.responses%[0%]%.score must be an integer from 0 to 10")
end)
