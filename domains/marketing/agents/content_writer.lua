-- Content Writer: a marketing brief -> the campaign's content (marketing.write_content): social
-- posts, emails, blog article outlines, search ads and the landing page copy, one item per
-- calendar entry, each with its date, channel and a UTM-tagged link.
--
-- llm.chat writes the words, one call per format (posts, emails, articles, ads, landing page), with
-- the prompt templates in templates/content_*.txt and a schema that bounds every field to its
-- channel's limits (LinkedIn 1,300 characters before "see more", email subjects 78, Google ad
-- headlines 30 and descriptions 90). Deterministic: which format each calendar entry gets, the
-- links, and the landing page's pricing table and guarantees (prices never come from the model).

local FORMAT_OF = { -- calendar channel -> the content it needs
  linkedin_ads = "posts", partnerships = "posts", events = "posts", webinars = "posts",
  email = "emails", content_seo = "articles", google_search = "ads",
}
local MEDIUM = { linkedin_ads = "paid_social", partnerships = "partner", events = "event", webinars = "webinar",
                 email = "email", content_seo = "organic", google_search = "cpc" }
local MAX_PER_CALL = 40

local function fail(msg) error("content_writer: " .. msg, 2) end

local function money(x)
  local i = math.tointeger(x)
  if i then return tostring(i) end
  return string.format("%.2f", x)
end

local function list_of(n, item) -- a schema for exactly n items
  return { type = "array", minItems = n, maxItems = n, items = item }
end

local function str(min, max) return { type = "string", minLength = min, maxLength = max } end

local SCHEMAS = {
  posts = function(n)
    return { type = "object", required = { "posts" }, properties = { posts = list_of(n, {
      type = "object", required = { "text", "hashtags" },
      properties = { text = str(20, 1300), hashtags = { type = "array", maxItems = 3, items = str(2, 40) } },
    }) } }
  end,
  emails = function(n)
    return { type = "object", required = { "emails" }, properties = { emails = list_of(n, {
      type = "object", required = { "subject", "preview", "body" },
      properties = { subject = str(5, 78), preview = str(5, 110), body = str(50, 2000) },
    }) } }
  end,
  articles = function(n)
    return { type = "object", required = { "articles" }, properties = { articles = list_of(n, {
      type = "object", required = { "title", "outline" },
      properties = { title = str(10, 90), outline = { type = "array", minItems = 3, maxItems = 6, items = str(3, 200) } },
    }) } }
  end,
  ads = function(n)
    return { type = "object", required = { "ads" }, properties = { ads = list_of(n, {
      type = "object", required = { "headlines", "descriptions" },
      properties = { headlines = { type = "array", minItems = 3, maxItems = 3, items = str(5, 30) },
                     descriptions = { type = "array", minItems = 2, maxItems = 2, items = str(10, 90) } },
    }) } }
  end,
  landing = function()
    return { type = "object", required = { "headline", "subheadline", "sections", "cta" }, properties = {
      headline = str(5, 80), subheadline = str(10, 200), cta = str(2, 40),
      sections = { type = "array", minItems = 3, maxItems = 3, items = {
        type = "object", required = { "title", "body" }, properties = { title = str(3, 80), body = str(20, 600) } } },
    } }
  end,
}

local function check(input)
  if type(input) ~= "table" then fail("input must be an object") end
  if type(input.offer) ~= "table" or type(input.offer.name) ~= "string" then fail("input.offer.name is required") end
  if type(input.offer.tiers) ~= "table" or #input.offer.tiers == 0 then fail("input.offer.tiers is required") end
  if type(input.campaign) ~= "table" or type(input.campaign.slug) ~= "string" then
    fail("input.campaign.slug is required")
  end
  if type(input.messages) ~= "table" or #input.messages == 0 then fail("input.messages is required (a non-empty list)") end
  if type(input.calendar) ~= "table" or #input.calendar == 0 then fail("input.calendar is required (a non-empty list)") end
  for i, it in ipairs(input.calendar) do
    if type(it) ~= "table" or type(it.date) ~= "string" or FORMAT_OF[it.channel] == nil then
      fail(string.format("input.calendar[%d] needs a date and a known channel", i - 1))
    end
  end
end

local function link(base, campaign, channel, date)
  return string.format("%s?utm_source=%s&utm_medium=%s&utm_campaign=%s&utm_content=%s", base, channel,
    MEDIUM[channel] or "other", campaign, date)
end

local agent = {
  name = "Content Writer",
  capabilities = { "copywriting", "email", "social", "landing_pages" },
  tools = {},
}

function agent.run(task, ctx)
  local input = task.input
  check(input)
  local offer, campaign = input.offer, input.campaign
  local base = input.landing_url or ("https://www.example.com/offers/" .. tostring(offer.slug or campaign.slug))

  local messages = {}
  for _, m in ipairs(input.messages) do
    messages[#messages + 1] = string.format("- for %s: %s. %s (%s)", tostring(m.persona), tostring(m.headline),
      tostring(m.body), tostring(m.cta))
  end
  local common = {
    offer = { name = offer.name, tagline = tostring(offer.tagline or ""),
              value_proposition = tostring(offer.value_proposition or "") },
    campaign = tostring(campaign.name or campaign.slug),
    messages = table.concat(messages, "\n"),
  }

  -- calendar entries grouped by format, in date order, at most MAX_PER_CALL per format
  local groups = { posts = {}, emails = {}, articles = {}, ads = {} }
  for _, it in ipairs(input.calendar) do
    local g = groups[FORMAT_OF[it.channel]]
    if #g < MAX_PER_CALL then g[#g + 1] = it end
  end

  local out = { campaign = { slug = campaign.slug, name = campaign.name }, landing_url = base }
  local calls = 0
  for _, format in ipairs({ "posts", "emails", "articles", "ads" }) do
    local items = groups[format]
    if #items > 0 then
      local lines = {}
      for i, it in ipairs(items) do
        lines[i] = string.format("%d. %s (%s, %s): %s", i, it.date, it.channel, tostring(it.format or format),
          tostring(it.topic or offer.name))
      end
      local vars = { items = table.concat(lines, "\n"), count = tostring(#items) }
      for k, v in pairs(common) do vars[k] = v end
      local reply = llm.chat{
        system = "You write B2B marketing copy for a digital agency: specific, plain, no hype, no invented numbers.",
        prompt = ctx.template("content_" .. format, vars),
        schema = SCHEMAS[format](#items),
        max_tokens = 4000,
      }
      calls = calls + 1
      local written = reply.data[format]
      local list = {}
      for i, it in ipairs(items) do
        local w = written[i]
        w.date, w.channel, w.topic = it.date, it.channel, it.topic
        w.link = link(base, campaign.slug, it.channel, it.date)
        list[i] = w
      end
      out[format] = list
    end
  end

  local pricing, tier_lines = {}, {}
  for i, t in ipairs(offer.tiers) do
    pricing[i] = { name = t.name, price = t.price, currency = offer.currency or "USD", includes = t.includes }
    tier_lines[i] = string.format("- %s: %s %s", tostring(t.name), money(t.price), offer.currency or "USD")
  end
  local vars = { tiers = table.concat(tier_lines, "\n") }
  for k, v in pairs(common) do vars[k] = v end
  local landing = llm.chat{
    system = "You write landing pages for a digital agency's offers: specific, plain, no hype.",
    prompt = ctx.template("content_landing", vars),
    schema = SCHEMAS.landing(),
    max_tokens = 1500,
  }.data
  calls = calls + 1
  landing.url = base
  landing.pricing = pricing -- from the offer, never from the model
  landing.guarantees = offer.guarantees
  out.landing = landing
  out.counts = { posts = #groups.posts, emails = #groups.emails, articles = #groups.articles, ads = #groups.ads,
                 llm_calls = calls }
  out.summary = string.format("%s: %d posts, %d emails, %d articles, %d search ad groups, landing page (%d model calls)",
    campaign.slug, #groups.posts, #groups.emails, #groups.articles, #groups.ads, calls)
  log.info("wrote content", campaign.slug, #groups.posts, "posts", #groups.emails, "emails")
  return out
end

return agent
