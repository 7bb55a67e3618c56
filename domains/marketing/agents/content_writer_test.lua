-- Tests for agents/content_writer.lua (run with `agency test domains/marketing`).

local BRIEF = {
  offer = { slug = "seo-growth-sprint", version = 1, name = "SEO Growth Sprint", currency = "USD",
            tiers = { { name = "Starter", price = 4450 }, { name = "Growth", price = 8000 } },
            guarantees = { "Two revision rounds" } },
  campaign = { slug = "seo-growth-sprint-v1", name = "Pipeline, not rankings", start_date = "2026-03-02" },
  messages = { { persona = "Head of Marketing", headline = "Traffic is not pipeline", body = "We fix that.", cta = "Book" } },
  calendar = {
    { date = "2026-03-02", channel = "content_seo", format = "blog article", topic = "Audits" },
    { date = "2026-03-02", channel = "google_search", format = "search ad group", topic = "Audits" },
    { date = "2026-03-03", channel = "linkedin_ads", format = "sponsored post", topic = "Pipeline" },
    { date = "2026-03-04", channel = "email", format = "newsletter email", topic = "Keywords" },
    { date = "2026-03-05", channel = "linkedin_ads", format = "sponsored post", topic = "Dashboards" },
  },
}

test("one piece of content per calendar entry, in date order, with UTM links", function()
  local out = run_agent("content_writer", BRIEF)
  eq(out.counts.posts, 2)
  eq(out.counts.emails, 1)
  eq(out.counts.articles, 1)
  eq(out.counts.ads, 1)
  eq(out.counts.llm_calls, 5)
  eq(out.posts[1].date, "2026-03-03")
  eq(out.posts[2].date, "2026-03-05")
  eq(out.posts[1].link, "https://www.example.com/offers/seo-growth-sprint?utm_source=linkedin_ads"
    .. "&utm_medium=paid_social&utm_campaign=seo-growth-sprint-v1&utm_content=2026-03-03")
  ok(#out.emails[1].subject <= 78, "subject within 78 characters")
  eq(#out.ads[1].headlines, 3)
  for _, h in ipairs(out.ads[1].headlines) do ok(#h <= 30, "ad headline within 30 characters") end
end)

test("the landing page's prices come from the offer, not from the model", function()
  local out = run_agent("content_writer", BRIEF)
  eq(out.landing.pricing, { { name = "Starter", price = 4450, currency = "USD" },
                            { name = "Growth", price = 8000, currency = "USD" } })
  eq(out.landing.guarantees, { "Two revision rounds" })
  eq(#out.landing.sections, 3)
end)

test("a calendar entry on an unknown channel is an error naming it", function()
  local bad = { offer = BRIEF.offer, campaign = BRIEF.campaign, messages = BRIEF.messages,
                calendar = { { date = "2026-03-02", channel = "radio" } } }
  raises(function() run_agent("content_writer", bad) end, "input%.calendar%[0%] needs a date and a known channel")
end)
