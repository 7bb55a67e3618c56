-- Tests for agents/campaign_planner.lua (run with `agency test domains/marketing`).

local function request(slug)
  return {
    offer = {
      slug = slug, version = 1, name = "SEO Growth Sprint", currency = "USD",
      tagline = "Pipeline from search", value_proposition = "We turn organic search into pipeline.",
      persona = { role = "Head of Marketing", company_size = "51-200", industries = { "SaaS", "Fintech" },
                  pains = { "Rising ad costs", "Traffic without pipeline" } },
      deliverables = { "Technical audit", "Keyword strategy" },
      tiers = { { name = "Starter", price = 4450 }, { name = "Growth", price = 8000 }, { name = "Scale", price = 13300 } },
    },
    budget = 12000, start_date = "2026-03-02", weeks = 4,
  }
end

test("the budget is split by the mid-size channel mix and the cost table", function()
  local brief = run_agent("campaign_planner", request("plan-test-a"))
  eq(brief.campaign.budget, 12000)
  eq(brief.campaign.slug, "plan-test-a-v1")
  local by = {}
  local total = 0
  for _, c in ipairs(brief.channels) do
    by[c.channel] = c
    total = total + c.budget
  end
  eq(total, 12000)
  eq(by.linkedin_ads.budget, 3600)
  eq(by.linkedin_ads.expected_leads, 40) -- 3600 / 90
  eq(by.content_seo.budget, 2400)
  eq(by.email.expected_leads, 150) -- 1800 / 12
  eq(brief.kpis.expected_leads, 40 + 68 + 36 + 150 + 40)
  eq(brief.kpis.mql_threshold, 60)
end)

test("the calendar has ISO dates on a weekly cadence from the start date", function()
  local brief = run_agent("campaign_planner", request("plan-test-b"))
  eq(brief.campaign.start_date, "2026-03-02")
  eq(brief.campaign.end_date, "2026-03-29")
  local first = brief.calendar[1]
  eq(first.date, "2026-03-02")
  eq(first.weekday, "Monday")
  local linkedin, emails, webinars = 0, 0, 0
  for _, it in ipairs(brief.calendar) do
    match(it.date, "^2026%-03%-%d%d$")
    if it.channel == "linkedin_ads" then linkedin = linkedin + 1 end
    if it.channel == "email" then
      emails = emails + 1
      eq(it.weekday, "Wednesday")
    end
    if it.channel == "webinars" then webinars = webinars + 1 end
  end
  eq(linkedin, 8) -- Tuesday and Thursday, 4 weeks
  eq(emails, 4)
  eq(webinars, 1)
end)

test("no budget: 1.5 x the median tier price, rounded up to 500, at least 2000", function()
  local r = request("plan-test-c")
  r.budget = nil
  local brief = run_agent("campaign_planner", r)
  eq(brief.campaign.budget, 12000) -- 8000 * 1.5
  match(brief.campaign.budget_reason, "^no budget given")
end)

test("a small budget drops the channels under their minimum spend", function()
  local r = request("plan-test-d")
  r.budget = 2500
  local brief = run_agent("campaign_planner", r)
  local total = 0
  for _, c in ipairs(brief.channels) do total = total + c.budget end
  eq(total, 2500)
  ok(#brief.dropped_channels > 0, "some channels dropped")
end)

test("dates cross month and year ends correctly", function()
  local r = request("plan-test-e")
  r.start_date = "2026-12-28"
  r.weeks = 1
  local brief = run_agent("campaign_planner", r)
  eq(brief.campaign.end_date, "2027-01-03")
  local last = brief.calendar[#brief.calendar]
  eq(last.date, "2026-12-31") -- Thursday post
  eq(last.weekday, "Thursday")
end)

test("an offer without tiers is an error naming the field", function()
  local r = request("plan-test-f")
  r.offer.tiers = nil
  raises(function() run_agent("campaign_planner", r) end, "input%.offer%.tiers is required")
end)
