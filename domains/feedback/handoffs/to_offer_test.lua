-- Tests for handoffs/to_offer.lua (run with `agency test domains/feedback`).

local RESULT = {
  offer = { slug = "seo-growth-sprint", version = 1, name = "SEO Growth Sprint" },
  projects = 2, responses = 7, nps = 100 / 3, refine = true,
  refinements = {
    { id = "seo-growth-sprint:v1:communication", theme = "communication", count = 3, projects = 2,
      sentiment = "negative", actionable = true, mentions = 4, negative = 3, positive = 1,
      recommendation = "Send a written status report every week and name one point of contact." },
  },
}

test("refinements become an offer.refine_offer input that names the insights", function()
  local h = run_handoff("to_offer", RESULT, { task_id = 42, workflow_id = 7, input = {} })
  eq(h.status, "accepted")
  eq(h.input.offer, { slug = "seo-growth-sprint", version = 1, name = "SEO Growth Sprint" })
  eq(h.input.insights, { { id = "seo-growth-sprint:v1:communication", theme = "communication", count = 3,
    projects = 2, sentiment = "negative",
    recommendation = "Send a written status report every week and name one point of contact." } })
  eq(h.input.nps, 33.3)
  eq(h.input.source.task_id, 42)
  eq(h.input.previous, nil)
end)

test("nothing new to refine: no handoff", function()
  eq(run_handoff("to_offer", { offer = RESULT.offer, refine = false }, { task_id = 43, input = {} }).status, "skipped")
end)

test("refine without refinements is rejected", function()
  local h = run_handoff("to_offer", { offer = RESULT.offer, refine = true }, { task_id = 44, input = {} })
  eq(h.status, "rejected")
  eq(h.reasons, { "refine is set but there are no refinements" })
end)
