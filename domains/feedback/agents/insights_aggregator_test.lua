-- Tests for agents/insights_aggregator.lua (run with `agency test domains/feedback`).

local function analysis(id, themes, counts)
  counts = counts or {}
  return { project = { id = id, name = "Project " .. id, client = "Client " .. id },
           responses = counts.responses or 3, promoters = counts.promoters or 1, passives = counts.passives or 1,
           detractors = counts.detractors or 1, themes = themes }
end

local function neg(name, n) return { theme = name, mentions = n, negative = n, positive = 0 } end
local function pos(name, n) return { theme = name, mentions = n, negative = 0, positive = n } end

test("a theme becomes actionable when its negative mentions reach the threshold across projects", function()
  local offer = { slug = "agg-test-a", version = 1, name = "SEO Sprint" }
  local first = run_agent("insights_aggregator", { offer = offer, analyses = { analysis("p1", { neg("timeline", 1) }) } })
  eq(first.refine, false)
  eq(first.insights[1].actionable, false)
  eq(first.projects, 1)
  local second = run_agent("insights_aggregator", { offer = offer, analyses = {
    analysis("p2", { neg("timeline", 1), pos("expertise", 2) }) } })
  eq(second.refine, true)
  eq(second.newly_actionable, { "timeline" })
  eq(second.projects, 2)
  local t = second.refinements[1]
  eq(t.id, "agg-test-a:v1:timeline")
  eq({ t.theme, t.count, t.projects, t.actionable }, { "timeline", 2, 2, true })
  eq(t.recommendation, "Plan a buffer week and fix milestone dates at kick-off.")
  -- the strength at the threshold goes along as a proof point
  eq(second.refinements[2].theme, "expertise")
  eq(second.refinements[2].sentiment, "positive")
end)

test("a theme triggers once per offer version, and a project is counted once", function()
  local offer = { slug = "agg-test-b", version = 1 }
  local r = run_agent("insights_aggregator", { offer = offer, analyses = { analysis("p1", { neg("pricing", 2) }) } })
  eq(r.refine, true)
  r = run_agent("insights_aggregator", { offer = offer, analyses = { analysis("p2", { neg("pricing", 3) }) } })
  eq(r.refine, false) -- already actionable: no second refinement
  eq(r.insights[1].count, 5)
  r = run_agent("insights_aggregator", { offer = offer, analyses = { analysis("p2", { neg("pricing", 3) }) } })
  eq(r.insights[1].count, 5) -- p2 again: not counted twice
  eq(r.projects, 2)
  -- the next version of the offer starts its own count
  r = run_agent("insights_aggregator", { offer = { slug = "agg-test-b", version = 2 },
                                         analyses = { analysis("p3", { neg("pricing", 2) }) } })
  eq(r.refine, true)
end)

test("NPS across projects is exact", function()
  local offer = { slug = "agg-test-c", version = 1 }
  local r = run_agent("insights_aggregator", { offer = offer, analyses = {
    analysis("p1", {}, { responses = 4, promoters = 3, passives = 1, detractors = 0 }),
    analysis("p2", {}, { responses = 2, promoters = 0, passives = 0, detractors = 2 }) } })
  eq(r.nps, (3 - 2) * 100 / 6)
  eq(r.responses, 6)
  eq(r.insights, nil)
end)

test("a theme outside the known list gets a generic recommendation", function()
  local r = run_agent("insights_aggregator", { offer = { slug = "agg-test-d", version = 1 },
                                               analyses = { analysis("p1", { neg("invoicing", 2) }) } })
  eq(r.refinements[1].recommendation, "Review what clients say about invoicing.")
end)

test("bad input names the field", function()
  raises(function() run_agent("insights_aggregator", { offer = { slug = "x" }, analyses = {} }) end,
    "input%.offer%.slug and input%.offer%.version are required")
end)
