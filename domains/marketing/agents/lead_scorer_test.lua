-- Tests for agents/lead_scorer.lua (run with `agency test domains/marketing`).

local HOT = {
  email = "maria.chen@brightledger.io", company = "BrightLedger", name = "Maria Chen",
  title = "Head of Marketing", industry = "Fintech", employees = 140, budget = 9000, timeline_days = 45,
  source = "linkedin_ads",
  engagement = { email_opens = 3, email_clicks = 1, page_views = 6, pricing_page_views = 2,
                 demo_requested = true, last_activity_days = 2 },
}

test("a hot lead without an ICP: neutral fit points, strong engagement -> 72, B, qualified", function()
  local r = run_agent("lead_scorer", HOT)
  eq(r.fit.score, 8 + 8 + 12 + 4)
  eq(r.engagement.score, 20 + 10 + 2 + 3 + 5)
  eq(r.score, 72)
  eq(r.grade, "B")
  eq(r.qualified, true)
  eq(r.threshold, 60)
  eq(r.authority, "decision_maker")
  eq(r.need, "high")
  eq(r.icp_used, false)
  ok(type(r.note) == "string", "a note for the sales rep")
end)

test("with the campaign's ICP in memory the fit is scored against it", function()
  -- the campaign planner stores brief:<offer slug>
  run_agent("campaign_planner", {
    offer = { slug = "lead-test-icp", version = 1, name = "SEO Growth Sprint",
              persona = { role = "Head of Marketing", company_size = "51-200", industries = { "SaaS", "Fintech" } },
              tiers = { { name = "Starter", price = 4450 }, { name = "Growth", price = 8000 } } },
    budget = 10000, start_date = "2026-03-02",
  })
  local lead = {}
  for k, v in pairs(HOT) do lead[k] = v end
  lead.offer = { slug = "lead-test-icp", version = 1 }
  local r = run_agent("lead_scorer", lead)
  eq(r.icp_used, true)
  eq(r.fit.score, 15 + 15 + 12 + 8) -- industry, size band, authority, budget >= entry price 4450
  eq(r.score, 90)
  eq(r.grade, "A")
end)

test("a cold lead: personal email, no engagement -> not qualified, no note", function()
  local r = run_agent("lead_scorer", { email = "bob@gmail.com", company = "Bob's Shop", title = "Owner",
                                       employees = 3 })
  eq(r.fit.reasons[#r.fit.reasons], "personal email address: -10")
  eq(r.fit.score, 0 + 3 + 12 + 0 - 10)
  eq(r.engagement.score, 0)
  eq(r.qualified, false)
  eq(r.grade, "D")
  eq(r.note, nil)
  eq(r.need, nil)
end)

test("stale engagement decays", function()
  local r = run_agent("lead_scorer", { email = "x@acme.com", company = "Acme",
    engagement = { demo_requested = true, pricing_page_views = 1, last_activity_days = 60 } })
  eq(r.engagement.score, 15) -- (20 + 10) x 0.5
end)

test("titles map to authority", function()
  local cases = { ["Chief Revenue Officer"] = "decision_maker", ["VP Marketing"] = "decision_maker",
                  ["Co-Founder"] = "decision_maker", ["Marketing Director"] = "influencer",
                  ["Partner Manager"] = "influencer", ["Managing Partner"] = "decision_maker",
                  ["Marketing Lead"] = "influencer", ["Lead Generation Specialist"] = "user",
                  ["Micro-influencer"] = "user" }
  for title, want in pairs(cases) do
    local r = run_agent("lead_scorer", { email = "t@acme.com", company = "Acme", title = title })
    eq(r.authority, want, title)
  end
end)

test("a lead without a valid email is an error naming the field", function()
  raises(function() run_agent("lead_scorer", { email = "nope", company = "Acme" }) end, "input%.email is required")
end)

test("through marketing.score_lead: a qualified lead hands off exactly one sales.qualify_lead", function()
  local r, handoffs = run_task("marketing.score_lead", HOT)
  eq(r.qualified, true)
  eq(#handoffs, 1)
  eq({ handoffs[1].name, handoffs[1].status, handoffs[1].to }, { "to_sales", "accepted", "sales.qualify_lead" })
  eq(handoffs[1].input.email, HOT.email)
  local cold, none = run_task("marketing.score_lead", { email = "bob@gmail.com", company = "Bob's Shop" })
  eq(cold.qualified, false)
  eq(#none, 0)
end)

test("the task schema rejects what the scorer cannot use", function()
  raises(function()
    run_task("marketing.score_lead", { email = "a@acme.com", company = "Acme", employees = 0, linkedin = "x" })
  end, "employees: must be at least 1; linkedin: is not allowed")
  raises(function() run_task("marketing.score_lead", { email = "not-an-email", company = "Acme" }) end, "email")
  raises(function()
    run_task("marketing.score_lead", { email = "a@acme.com", company = "Acme", engagement = { demo = true } })
  end, "engagement%.demo: is not allowed")
end)
