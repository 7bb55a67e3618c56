-- Sentiment Analyst: a project's survey responses -> sentiment, themes and NPS
-- (feedback.analyze_sentiment).
--
-- Deterministic:
--   NPS   exactly % promoters (score 9-10) - % detractors (0-6) over the responses with a score,
--         by tools/nps_calculator.lua (ctx.tool); passives are 7-8.
--   text  each response's comment and text answers are split into clauses (. ! ? ; new lines and
--         "but"); a clause's polarity = positive words - negative words from the lexicons below, a
--         word preceded (within three words) by a negator (not, no, never, n't, hardly, without) counts
--         the other way.
--   themes  a theme is mentioned by a response when one of its words is in a clause; the mention is
--         positive or negative by the sum of those clauses' polarities, and when that is 0 by the
--         response's score (promoter +, detractor -, passive neutral). Counted once per response.
--   response sentiment  the mean of the text polarity ((pos - neg) / (pos + neg)) and the score
--         polarity ((score - 7) / 3, clamped to [-1, 1]), of those present: > 0.25 positive,
--         < -0.25 negative, else mixed when both kinds of words occur, else neutral.
-- llm.chat writes a two-sentence summary for the account team (optional: a failed call leaves it out).

local NEGATORS = { ["not"] = true, ["no"] = true, ["never"] = true, ["hardly"] = true, ["without"] = true,
                   ["nothing"] = true }

-- Lexicon entries: "word" (exact), "stem*" (any word starting so), "two words" (adjacent words).
local POSITIVE = { "great", "excellent", "amazing", "love*", "happy", "helpful", "fast", "quick*", "clear*",
  "responsive", "recommend*", "impress*", "smooth*", "professional*", "fantastic", "good", "easy", "friendly",
  "valuable", "outstanding", "pleased", "thank*", "best", "brilliant", "solid", "reliable", "exceeded",
  "on time", "well done", "worth", "nice", "perfect*", "efficient*", "proactive" }
local NEGATIVE = { "slow*", "late", "poor*", "bad", "confus*", "expensive", "pricey", "unclear", "frustrat*",
  "disappoint*", "delay*", "missed", "difficult", "unresponsive", "overpriced", "bug", "bugs", "buggy", "broken",
  "problem*", "issue*", "worse", "worst", "terrible", "lack*", "chas*", "waited", "waiting", "sloppy",
  "mistake*", "overdue", "messy", "chaotic", "annoy*", "too much", "rushed", "vague", "silence", "ignored", "nobody" }

local THEMES = {
  pricing = { "pric*", "cost*", "expensive", "pricey", "budget*", "invoice*", "fee", "fees", "overpriced", "cheap*",
              "afford*", "value for", "money" },
  communication = { "communicat*", "respond*", "respons*", "update*", "informed", "reply", "replied",
                    "contact*", "meeting*", "call", "calls", "email*", "slack", "status", "chas*", "silence", "the loop",
                    "unresponsive" },
  timeline = { "late", "delay*", "deadline*", "on time", "timeline*", "schedul*", "slow*", "took longer", "overdue",
               "behind", "slipp*", "missed", "rushed" },
  quality = { "quality", "bug", "bugs", "buggy", "error*", "polish*", "sloppy", "mistake*", "broken", "typo*",
              "detail*", "craft*" },
  scope = { "scope*", "requirement*", "change request", "brief", "expectation*", "deliverable*" },
  support = { "support*", "after launch", "maintenance", "training", "handover", "hand over", "help" },
  onboarding = { "onboard*", "kickoff", "kick off", "setup", "set up", "getting started" },
  results = { "result*", "roi", "lead", "leads", "revenue", "growth", "conversion*", "traffic", "pipeline*",
              "impact*", "ranking*", "sales" },
  expertise = { "expert*", "knowledg*", "skilled", "professional*", "strateg*", "insight*", "smart", "know how" },
}
local THEME_ORDER = { "communication", "expertise", "onboarding", "pricing", "quality", "results", "scope",
                      "support", "timeline" }

local function fail(msg) error("sentiment_analyst: " .. msg, 2) end

-- One index over all the lexicons: word / stem / pair -> the names of the lexicons it belongs to
-- ("pos", "neg" and the themes), so each token is looked up once, not once per lexicon.
local INDEX = { words = {}, stems = {}, pairs = {} }
local function add_lexicon(name, list)
  for _, w in ipairs(list) do
    local kind, key = "words", w
    if w:sub(-1) == "*" then kind, key = "stems", w:sub(1, -2)
    elseif w:find(" ", 1, true) then kind = "pairs" end
    local set = INDEX[kind][key] or {}
    set[name] = true
    INDEX[kind][key] = set
  end
end
add_lexicon("pos", POSITIVE)
add_lexicon("neg", NEGATIVE)
for name, list in pairs(THEMES) do add_lexicon(name, list) end

-- The lexicons matching at token i: a word, a stem of it (3+ letters) or the pair it starts.
local function hits(toks, i)
  local w, found = toks[i], {}
  local function take(set)
    if set then
      for name in pairs(set) do found[name] = true end
    end
  end
  take(INDEX.words[w])
  for k = #w, 3, -1 do take(INDEX.stems[w:sub(1, k)]) end
  if toks[i + 1] then take(INDEX.pairs[w .. " " .. toks[i + 1]]) end
  return found
end

local function negated(toks, i)
  for j = math.max(1, i - 3), i - 1 do
    if NEGATORS[toks[j]] then return true end
  end
  return false
end

-- Clauses of a text: { text = original, toks = lower-case words }.
local function clauses(text)
  local out = {}
  local norm = text:gsub("[Nn]'[Tt]", " not"):gsub("%s+[Bb][Uu][Tt]%s+", ". ")
  for piece in norm:gmatch("[^%.!%?;\n]+") do
    local toks = {}
    for w in piece:lower():gmatch("[%w']+") do toks[#toks + 1] = w end
    if #toks > 0 then out[#out + 1] = { text = piece:match("^[%s,:]*(.-)[%s,:]*$"), toks = toks } end
  end
  return out
end

-- Pure: one clause -> positive count, negative count, set of themes.
local function read_clause(toks)
  local pos, neg, themes = 0, 0, {}
  for i = 1, #toks do
    local found = hits(toks, i)
    local p, n = found.pos, found.neg
    if (p or n) and negated(toks, i) then p, n = n, p end
    if p then pos = pos + 1 end
    if n then neg = neg + 1 end
    for name in pairs(found) do
      if name ~= "pos" and name ~= "neg" then themes[name] = true end
    end
  end
  return pos, neg, themes
end

local function category(score)
  if score == nil then return nil end
  if score >= 9 then return "promoter" elseif score >= 7 then return "passive" end
  return "detractor"
end

local function text_of(r)
  local parts = {}
  if type(r.comment) == "string" then parts[#parts + 1] = r.comment end
  if type(r.answers) == "table" then
    local keys = {}
    for k, v in pairs(r.answers) do
      if type(v) == "string" then keys[#keys + 1] = k end
    end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = r.answers[k] end
  end
  return table.concat(parts, ". ")
end

local function round2(x) return math.floor(x * 100 + 0.5) / 100 end

-- Pure: one response -> its reading.
local function read_response(r)
  local score = math.tointeger(r.score)
  local cat = category(score)
  local pos, neg, theme_pol, quotes = 0, 0, {}, {}
  for _, c in ipairs(clauses(text_of(r))) do
    local p, n, themes = read_clause(c.toks)
    pos, neg = pos + p, neg + n
    for name in pairs(themes) do
      theme_pol[name] = (theme_pol[name] or 0) + (p - n)
      quotes[name] = quotes[name] or c.text
    end
  end
  local parts = {}
  if pos + neg > 0 then parts[#parts + 1] = (pos - neg) / (pos + neg) end
  if score then parts[#parts + 1] = math.max(-1, math.min(1, (score - 7) / 3)) end
  local s = 0
  for _, x in ipairs(parts) do s = s + x / #parts end
  local label = (s > 0.25 and "positive") or (s < -0.25 and "negative") or
    ((pos > 0 and neg > 0) and "mixed") or "neutral"
  local themes = {}
  for _, name in ipairs(THEME_ORDER) do
    local pol = theme_pol[name]
    if pol ~= nil then
      local dir
      if pol > 0 then dir = "positive" elseif pol < 0 then dir = "negative"
      elseif cat == "promoter" then dir = "positive" elseif cat == "detractor" then dir = "negative"
      else dir = "neutral" end
      themes[#themes + 1] = { theme = name, polarity = dir, quote = quotes[name] }
    end
  end
  return { score = score, category = cat, sentiment = label, polarity = round2(s), positive_words = pos,
           negative_words = neg, themes = themes }
end

-- NPS of the scored responses, by tools/nps_calculator.lua (nil without any score).
local function nps(readings, ctx)
  local scores = {}
  for _, r in ipairs(readings) do
    if r.score then scores[#scores + 1] = r.score end
  end
  if #scores == 0 then return { responses = 0, promoters = 0, passives = 0, detractors = 0 } end
  return ctx.tool("nps_calculator", { scores = scores })
end

-- The whole analysis of a list of responses.
local function analyse(responses, ctx)
  local readings, by_theme = {}, {}
  local sum = 0
  for i, r in ipairs(responses) do
    local rd = read_response(r)
    rd.respondent = r.respondent
    readings[i] = rd
    sum = sum + rd.polarity
    for _, t in ipairs(rd.themes) do
      local agg = by_theme[t.theme] or { theme = t.theme, mentions = 0, positive = 0, negative = 0, neutral = 0,
                                         quotes = {} }
      by_theme[t.theme] = agg
      agg.mentions = agg.mentions + 1
      agg[t.polarity] = agg[t.polarity] + 1
      if #agg.quotes < 3 then agg.quotes[#agg.quotes + 1] = t.quote:sub(1, 200) end
    end
  end
  local themes = {}
  for _, name in ipairs(THEME_ORDER) do
    local t = by_theme[name]
    if t then
      t.sentiment = (t.negative > t.positive and "negative") or (t.positive > t.negative and "positive") or
        (t.positive > 0 and "mixed") or "neutral"
      themes[#themes + 1] = t
    end
  end
  table.sort(themes, function(a, b) return a.mentions > b.mentions or (a.mentions == b.mentions and a.theme < b.theme) end)
  local score = #readings > 0 and round2(sum / #readings) or 0
  local counts = { positive = 0, negative = 0, neutral = 0, mixed = 0 }
  for _, rd in ipairs(readings) do counts[rd.sentiment] = counts[rd.sentiment] + 1 end
  local overall = (score > 0.25 and "positive") or (score < -0.25 and "negative") or
    ((counts.positive > 0 and counts.negative > 0) and "mixed") or "neutral"
  return { nps = nps(readings, ctx), sentiment = { label = overall, score = score, counts = counts }, themes = themes,
           readings = readings }
end

local SUMMARY_SCHEMA = {
  type = "object",
  required = { "narrative", "top_action" },
  properties = { narrative = { type = "string", minLength = 1, maxLength = 600 },
                 top_action = { type = "string", minLength = 1, maxLength = 300 } },
}

local agent = {
  name = "Sentiment Analyst",
  capabilities = { "sentiment", "nps", "theme_extraction" },
  tools = { "nps_calculator" },
  read_response = read_response, -- pure, for tests
}

function agent.run(task, ctx)
  local input = task.input
  if type(input) ~= "table" then fail("input must be an object") end
  if type(input.project) ~= "table" or input.project.id == nil then fail("input.project.id is required") end
  if type(input.responses) ~= "table" or #input.responses == 0 then
    fail("input.responses is required (a non-empty list)")
  end
  for i, r in ipairs(input.responses) do
    if type(r) ~= "table" then fail(string.format("input.responses[%d] must be an object", i - 1)) end
    if r.score ~= nil and (math.tointeger(r.score) == nil or r.score < 0 or r.score > 10) then
      fail(string.format("input.responses[%d].score must be an integer from 0 to 10", i - 1))
    end
  end
  local a = analyse(input.responses, ctx)

  local theme_lines = {}
  for _, t in ipairs(a.themes) do
    theme_lines[#theme_lines + 1] = string.format("- %s: %d mentions (%d negative, %d positive), e.g. \"%s\"",
      t.theme, t.mentions, t.negative, t.positive, t.quotes[1] or "")
  end
  local ok, reply = pcall(llm.chat, {
    system = "You summarise client feedback for a digital agency's account team: factual, two sentences.",
    prompt = ctx.template("sentiment_summary", {
      project = { name = tostring(input.project.name or input.project.id),
                  client = tostring(input.project.client or "the client") },
      nps = a.nps.nps and string.format("%.1f", a.nps.nps) or "n/a",
      responses = tostring(#input.responses),
      sentiment = a.sentiment.label,
      themes = #theme_lines > 0 and table.concat(theme_lines, "\n") or "(no recurring themes)",
    }),
    schema = SUMMARY_SCHEMA,
    tools = ctx.tools,
    max_tokens = 400,
  })
  local narrative, action
  if ok then narrative, action = reply.data.narrative, reply.data.top_action
  else log.warn("sentiment_analyst: no summary:", type(reply) == "table" and reply.code or tostring(reply)) end

  log.info("analysed feedback", tostring(input.project.id), #input.responses, "responses, NPS",
    a.nps.nps and string.format("%.1f", a.nps.nps) or "n/a")
  return {
    project = input.project,
    offer = input.offer,
    survey_id = input.survey_id,
    responses = #input.responses,
    nps = a.nps.nps,
    promoters = a.nps.promoters, passives = a.nps.passives, detractors = a.nps.detractors,
    scored = a.nps.responses,
    sentiment = a.sentiment,
    themes = #a.themes > 0 and a.themes or nil,
    per_response = a.readings,
    narrative = narrative,
    top_action = action,
    summary = (function()
      local top = {}
      for i = 1, math.min(3, #a.themes) do
        local t = a.themes[i]
        top[i] = string.format("%s %d (%s)", t.theme, t.mentions, t.sentiment)
      end
      return string.format("%d responses, NPS %s, sentiment %s; themes: %s", #input.responses,
        a.nps.nps and string.format("%.1f", a.nps.nps) or "n/a", a.sentiment.label,
        #top > 0 and table.concat(top, ", ") or "none")
    end)(),
  }
end

return agent
