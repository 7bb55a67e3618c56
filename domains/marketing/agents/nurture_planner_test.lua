-- Tests for agents/nurture_planner.lua (run with `agency test domains/marketing`).

local LOST = { email = "ana@example.com", company = "Acme", name = "Ana Lima", lost_reason = "proposal above the budget",
               lost_on = "2026-03-04", offer = "SEO Growth Sprint", nurture_in_days = 90 }

test("lost on price: day 7, 30 and 60, re-engage on day 90", function()
  local r = run_agent("nurture_planner", LOST)
  eq(r.category, "price")
  eq(#r.sequence, 4)
  eq({ r.sequence[1].date, r.sequence[2].date, r.sequence[3].date, r.sequence[4].date },
     { "2026-03-11", "2026-04-03", "2026-05-04", "2026-06-02" }) -- day 60 is a Sunday: Monday
  eq(r.reengage_on, "2026-06-02")
  eq(r.sequence[4].reengage, true)
  eq(r.sequence[2].purpose, "A lighter way to start: a smaller first project") -- no offer in memory
  ok(type(r.sequence[1].subject) == "string", "email copy from the model")
end)

test("a touch on a Saturday moves to the Monday (tools/calendar.lua)", function()
  local r = run_agent("nurture_planner", { email = "b@acme.com", company = "Acme", lost_on = "2026-03-07" })
  eq({ r.sequence[1].date, r.sequence[1].weekday, r.sequence[1].day }, { "2026-03-16", "Monday", 7 }) -- day 7: Saturday
  eq({ r.sequence[2].date, r.sequence[2].weekday }, { "2026-04-06", "Monday" })
end)

test("the reason decides the purposes; 30 days: day 7 and the re-engagement", function()
  local r = run_agent("nurture_planner", { email = "b@acme.com", company = "Acme", lost_on = "2026-03-04",
                                           lost_reason = "chose an in-house team" })
  eq(r.category, "competitor")
  eq(#r.sequence, 2)
  eq(r.sequence[2].day, 30)
  eq(r.sequence[2].purpose, "Check in: how is it going with the current partner?")
end)

test("reasons map to categories", function()
  local cases = { ["Too expensive for now"] = "price", ["Budget freeze"] = "price",
                  ["Not now, maybe next quarter"] = "timing", ["Went with another agency"] = "competitor",
                  ["Client went quiet"] = "no_response", ["Merged with another company"] = "other" }
  for reason, want in pairs(cases) do
    eq(run_agent("nurture_planner", { email = "c@acme.com", company = "Acme", lost_reason = reason,
                                      lost_on = "2026-01-01" }).category, want, reason)
  end
end)

test("bad input names the field", function()
  raises(function() run_agent("nurture_planner", { email = "x@acme.com", company = "Acme", nurture_in_days = 3 }) end,
    "input%.nurture_in_days must be at least 7")
  raises(function() run_agent("nurture_planner", { company = "Acme" }) end, "input%.email is required")
end)
