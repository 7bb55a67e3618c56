-- Insights Aggregator: themes across projects -> offer refinements (feedback.aggregate_insights).
--
-- Per offer version it keeps counters in this domain's memory (insights:<slug>:v<version>:...):
-- projects, responses, promoters/passives/detractors, and per theme its mentions, negative and
-- positive mentions and projects. A project is counted once (a re-run reuses what it found).
-- Insights: one per theme mentioned so far for that offer version, { id, theme, count, mentions,
-- projects, sentiment, recommendation, actionable }, where count = the negative mentions for a
-- negative theme (the positive ones for a positive theme) and actionable = at least
-- refine_at_mentions (config.lua, 2) negative mentions.
-- refine = true when a theme BECAME actionable in this task (its negative mentions reached the
-- threshold now, and do not trail its positive ones), so each theme triggers one refinement per offer version, however many projects
-- follow; the Feedback -> Offer handoff (handoffs/to_offer.lua) then sends `refinements` (the themes
-- that crossed, plus the positive themes at the threshold, as proof points) to offer.refine_offer.
-- NPS across the projects is exact: % promoters - % detractors of all scored responses.
-- llm.chat writes a short brief of the refinements for staff (optional).

local DEFAULT_THRESHOLD = 2 -- when config.lua (ctx.config) has no refine_at_mentions
local THEMES = { "communication", "expertise", "onboarding", "pricing", "quality", "results", "scope", "support",
                 "timeline" }
local FIX = {
  communication = "Send a written status report every week and name one point of contact.",
  timeline = "Plan a buffer week and fix milestone dates at kick-off.",
  pricing = "Lower the entry price or make the entry tier smaller.",
  quality = "Add a senior QA review before every hand-over.",
  scope = "Agree a signed scope document with a change-request process at kick-off.",
  support = "Include post-launch support in the higher tiers.",
  onboarding = "Run a structured onboarding workshop in week 1.",
  results = "Report results against agreed KPIs every month.",
  expertise = "Staff senior specialists on every project and show their credentials up front.",
}

local function fail(msg) error("insights_aggregator: " .. msg, 2) end

local function int(x) return math.tointeger(x) or (type(x) == "number" and math.floor(x)) or 0 end

-- memory.incr counts in one store transaction, so concurrent aggregations of one offer add up exactly
local function incr(key, by)
  if by == 0 then return int(memory.get(key)) end
  return memory.incr(key, by)
end

local function check(input)
  if type(input) ~= "table" then fail("input must be an object") end
  local o = input.offer
  if type(o) ~= "table" or type(o.slug) ~= "string" or o.slug == "" or math.tointeger(o.version) == nil then
    fail("input.offer.slug and input.offer.version are required (the offer the projects delivered)")
  end
  if type(input.analyses) ~= "table" or #input.analyses == 0 then
    fail("input.analyses is required (a non-empty list of project analyses)")
  end
  for i, a in ipairs(input.analyses) do
    if type(a) ~= "table" or type(a.project) ~= "table" or a.project.id == nil then
      fail(string.format("input.analyses[%d].project.id is required", i - 1))
    end
  end
end

local function recommendation(theme, positive)
  if positive then return string.format("Use client praise for our %s in sales material.", theme) end
  return FIX[theme] or string.format("Review what clients say about %s.", theme)
end

local agent = {
  name = "Insights Aggregator",
  capabilities = { "insights", "offer_refinement" },
  tools = {},
}

function agent.run(task, ctx)
  local input = task.input
  check(input)
  local cfg = type(ctx.config) == "table" and ctx.config or {}
  local T = type(cfg.refine_at_mentions) == "number" and cfg.refine_at_mentions or DEFAULT_THRESHOLD
  local offer = input.offer
  local slug, version = offer.slug, math.tointeger(offer.version)
  local P = string.format("insights:%s:v%d", slug, version)

  -- count each project once; remember which themes it made actionable, so that a re-run of this
  -- same task (retry, recovery) reports them again while another task on the same project does not
  local task_id = math.tointeger(ctx.task_id) or 0
  local crossed, seen_theme = {}, {}
  for _, a in ipairs(input.analyses) do
    local pid = math.tointeger(a.project.id) and tostring(math.tointeger(a.project.id)) or tostring(a.project.id)
    local memo_key = P .. ":project:" .. pid
    local memo = memory.get(memo_key)
    local fresh = type(memo) ~= "table"
    if fresh then
      memo = { crossed = {}, task_id = task_id }
      incr(P .. ":projects", 1)
      incr(P .. ":responses", int(a.responses))
      incr(P .. ":promoters", int(a.promoters))
      incr(P .. ":passives", int(a.passives))
      incr(P .. ":detractors", int(a.detractors))
      for _, t in ipairs(type(a.themes) == "table" and a.themes or {}) do
        if type(t) == "table" and type(t.theme) == "string" and t.theme ~= "" then
          local key = P .. ":t:" .. t.theme
          local neg, pos = int(t.negative), int(t.positive)
          incr(key .. ":mentions", int(t.mentions))
          incr(key .. ":projects", 1)
          local pos_now = incr(key .. ":positive", pos)
          local neg_now = incr(key .. ":negative", neg)
          local function actionable(n, p) return n >= T and not (p > n) end
          if actionable(neg_now, pos_now) and not actionable(neg_now - neg, pos_now - pos) then
            memo.crossed[#memo.crossed + 1] = t.theme
          end
          if FIX[t.theme] == nil then -- a theme outside the known list: remember its name
            local others = memory.get(P .. ":other_themes") or {}
            local known = false
            for _, x in ipairs(others) do known = known or x == t.theme end
            if not known then
              others[#others + 1] = t.theme
              memory.set(P .. ":other_themes", others)
            end
          end
        end
      end
      memo.at = time.iso()
      memory.set(memo_key, memo)
    end
    local mine = fresh or (task_id ~= 0 and math.tointeger(memo.task_id) == task_id)
    for _, th in ipairs(mine and memo.crossed or {}) do
      if not seen_theme[th] then
        seen_theme[th] = true
        crossed[#crossed + 1] = th
      end
    end
  end

  -- the insights for this offer version so far
  local names = {}
  for _, th in ipairs(THEMES) do names[#names + 1] = th end
  for _, th in ipairs(memory.get(P .. ":other_themes") or {}) do names[#names + 1] = th end
  local insights, by_theme = {}, {}
  for _, th in ipairs(names) do
    local key = P .. ":t:" .. th
    local mentions = int(memory.get(key .. ":mentions"))
    if mentions > 0 then
      local neg, pos = int(memory.get(key .. ":negative")), int(memory.get(key .. ":positive"))
      local positive = pos > neg
      local ins = {
        id = string.format("%s:v%d:%s", slug, version, th),
        theme = th,
        count = positive and pos or neg,
        mentions = mentions, negative = neg, positive = pos,
        projects = int(memory.get(key .. ":projects")),
        sentiment = (neg > pos and "negative") or (positive and "positive") or (neg > 0 and "mixed") or "neutral",
        actionable = neg >= T and not positive,
        recommendation = recommendation(th, positive),
      }
      insights[#insights + 1] = ins
      by_theme[th] = ins
    end
  end
  table.sort(insights, function(a, b)
    if a.actionable ~= b.actionable then return a.actionable end
    if a.count ~= b.count then return a.count > b.count end
    return a.theme < b.theme
  end)

  -- what goes to offer.refine_offer: the themes that crossed now (+ strengths at the threshold)
  local refinements = {}
  for _, th in ipairs(crossed) do
    local ins = by_theme[th]
    if ins and ins.actionable then refinements[#refinements + 1] = ins end
  end
  local refine = #refinements > 0
  if refine then
    for _, ins in ipairs(insights) do
      if ins.sentiment == "positive" and ins.count >= T then refinements[#refinements + 1] = ins end
    end
  end

  local p, n, d = int(memory.get(P .. ":promoters")), int(memory.get(P .. ":passives")), int(memory.get(P .. ":detractors"))
  local scored = p + n + d
  local spec = type(offer.spec) == "table" and offer.spec or nil
  if spec == nil then -- the offer domain's copy, read by name (another domain's memory is read-only)
    local ok, v = pcall(memory.get, string.format("offer:%s:v%d", slug, version), { domain = "offer" })
    if ok and type(v) == "table" and v.slug == slug then spec = v end
  end

  local brief
  if refine then
    local lines = {}
    for _, ins in ipairs(refinements) do
      lines[#lines + 1] = string.format("- %s (%s, %d): %s", ins.theme, ins.sentiment, ins.count, ins.recommendation)
    end
    local ok, reply = pcall(llm.chat, {
      system = "You brief a digital agency's offer owner on client feedback. Two sentences, factual.",
      prompt = ctx.template("insights_summary", {
        offer = tostring(offer.name or (spec and spec.name) or slug), version = tostring(version),
        projects = tostring(int(memory.get(P .. ":projects"))),
        nps = scored > 0 and string.format("%.1f", (p - d) * 100 / scored) or "n/a",
        refinements = table.concat(lines, "\n"),
      }),
      schema = { type = "object", required = { "brief" },
                 properties = { brief = { type = "string", minLength = 1, maxLength = 600 } } },
      max_tokens = 300,
    })
    if ok then brief = reply.data.brief
    else log.warn("insights_aggregator: no brief:", type(reply) == "table" and reply.code or tostring(reply)) end
  end

  log.info("aggregated insights", P, #insights, "themes", refine and ("refine: " .. table.concat(crossed, ",")) or "")
  return {
    offer = { slug = slug, version = version, name = offer.name or (spec and spec.name) or nil, spec = spec },
    projects = int(memory.get(P .. ":projects")),
    responses = int(memory.get(P .. ":responses")),
    promoters = p, passives = n, detractors = d,
    nps = scored > 0 and (p - d) * 100 / scored or nil,
    threshold = T,
    insights = #insights > 0 and insights or nil,
    newly_actionable = #crossed > 0 and crossed or nil,
    refine = refine,
    refinements = refine and refinements or nil,
    brief = brief,
    summary = string.format("%s v%d: %d project%s, NPS %s; %s", slug, version, int(memory.get(P .. ":projects")),
      int(memory.get(P .. ":projects")) == 1 and "" or "s",
      scored > 0 and string.format("%.1f", (p - d) * 100 / scored) or "n/a",
      refine and ("refine the offer on " .. table.concat(crossed, ", ")) or "no new actionable theme"),
    source_projects = (function()
      local ids = {}
      for i, a in ipairs(input.analyses) do ids[i] = a.project.id end
      return ids
    end)(),
  }
end

return agent
