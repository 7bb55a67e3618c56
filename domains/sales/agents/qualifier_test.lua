-- Tests of agents/qualifier.lua (BANT). Run: agency test domains/sales
-- (the same rules are tested in depth, with the input schema, by tests/scripts/qualifier_test.lua).

test("the README's sample lead scores 95, hot", function()
  local r = run_agent("qualifier", { email = "ana@example.com", company = "Acme", budget = 20000,
    authority = "decision_maker", need = "high", timeline_days = 30 })
  eq(r.score, 95)
  eq(r.qualified, true)
  eq(r.tier, "hot")
  eq(r.breakdown, { budget = 25, authority = 25, need = 25, timeline = 20 })
  eq(r.reasons[1], "budget 20000 >= 20000: +25")
  eq(r.summary, "Acme: BANT 95, hot, qualified")
end)

test("a lead with no budget and a long timeline is cold", function()
  local r = run_agent("qualifier", { email = "bo@example.com", company = "Tiny", authority = "user",
    need = "low", timeline_days = 400 })
  eq(r.score, 8 + 5 + 2)
  eq(r.qualified, false)
  eq(r.tier, "cold")
  eq(r.reasons[1], "budget missing: +0")
  eq(r.summary, "Tiny: BANT 15, cold, under 60, not qualified")
end)

test("60 points is the qualifying line (warm)", function()
  local r = run_agent("qualifier", { email = "c@example.com", company = "C", budget = 50000,
    authority = "decision_maker", need = "low" })
  eq(r.score, 60)
  eq(r.qualified, true)
  eq(r.tier, "warm")
  eq(r.summary, "C: BANT 60, warm, qualified")
end)

test("an input without email fails clearly", function()
  raises(function() run_agent("qualifier", { company = "X" }) end, "email is required")
end)
