-- Tests for agents/sentiment_analyst.lua (run with `agency test domains/feedback`).

local function analyse(responses)
  return run_agent("sentiment_analyst", { project = { id = "p1", name = "P", client = "C" }, responses = responses })
end

local function theme(r, name)
  for _, t in ipairs(r.themes or {}) do
    if t.theme == name then return t end
  end
end

test("NPS is exactly % promoters - % detractors", function()
  local r = analyse({ { score = 10 }, { score = 9 }, { score = 0 } })
  eq(r.promoters, 2)
  eq(r.detractors, 1)
  eq(r.nps, 100 / 3) -- (2 - 1) / 3 * 100
  r = analyse({ { score = 9 }, { score = 8 }, { score = 7 }, { score = 6 } })
  eq(r.nps, 0)
  eq(r.passives, 2)
  r = analyse({ { score = 6 }, { score = 9 }, { score = 5 }, { score = 8 } })
  eq(r.nps, -25)
  r = analyse({ { comment = "No score given" } })
  eq(r.nps, nil)
  eq(r.scored, 0)
end)

test("themes come from the words, their direction from the clause", function()
  local r = analyse({
    { score = 6, comment = "Great strategy work, but updates were slow and we had to chase for status." },
    { score = 5, comment = "Too expensive. Communication was not clear." },
    { score = 9, comment = "Knowledgeable team, excellent audit." },
  })
  local c = theme(r, "communication")
  eq({ c.mentions, c.negative, c.positive }, { 2, 2, 0 })
  eq(c.sentiment, "negative")
  eq(c.quotes[1], "updates were slow and we had to chase for status")
  local e = theme(r, "expertise")
  eq({ e.mentions, e.positive, e.negative }, { 2, 2, 0 })
  eq(theme(r, "pricing").negative, 1)
  eq(r.themes[1].theme, "communication") -- most mentioned first
end)

test("a negator flips the word after it: 'not clear' is negative, 'not bad' is positive", function()
  local r = analyse({ { comment = "The reporting was not clear." } })
  eq(r.per_response[1].sentiment, "negative")
  r = analyse({ { comment = "Honestly not bad at all." } })
  eq(r.per_response[1].sentiment, "positive")
  r = analyse({ { comment = "The team didn't respond." } })
  eq(theme(r, "communication").sentiment, "neutral") -- no sentiment word: no direction, no score
end)

test("a theme without sentiment words takes the direction of the score", function()
  local r = analyse({ { score = 2, comment = "The invoice arrived." }, { score = 10, comment = "The invoice arrived." } })
  local p = theme(r, "pricing")
  eq({ p.negative, p.positive }, { 1, 1 })
  eq(p.sentiment, "mixed")
end)

test("response sentiment mixes text and score", function()
  local r = analyse({ { score = 10, comment = "Excellent and fast." }, { score = 0, comment = "Terrible, slow, late." },
                      { score = 7, comment = "Good team but slow." } })
  eq(r.per_response[1].sentiment, "positive")
  eq(r.per_response[2].sentiment, "negative")
  eq(r.per_response[3].sentiment, "mixed")
  eq(r.sentiment.counts, { positive = 1, negative = 1, neutral = 0, mixed = 1 })
end)

test("bad input names the field", function()
  raises(function() analyse({}) end, "input%.responses is required")
  raises(function() analyse({ { score = 4.5 } }) end, "input%.responses%[0%]%.score must be an integer")
end)
