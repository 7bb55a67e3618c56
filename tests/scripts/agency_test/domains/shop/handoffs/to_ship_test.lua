-- Passing tests for handoffs/to_ship.lua and handoffs/bad_target.lua.

local ORDER = { item = "widget", qty = 2, total = 5.0 }

test("accepted: the target task's input", function()
  local h = run_handoff("to_ship", ORDER, { task_id = 12 })
  eq(h.status, "accepted")
  eq(h.to, "shop.ship")
  eq(h.reasons, {})
  eq(h.input, { item = "widget", qty = 2, total = 5.0, from_task = 12 })
end)

test("rejected by validate, with its reasons", function()
  local h = run_handoff("to_ship", { item = "widget", qty = 500, total = 1250 })
  eq(h.status, "rejected")
  eq(h.reasons, { "too many units: 500" })
  eq(h.input, nil)
end)

test("skipped when `when` says no", function()
  eq(run_handoff("to_ship", { item = "widget", qty = 1, total = 0 }).status, "skipped")
end)

test("rejected by the target task type's schema", function()
  local h = run_handoff("bad_target", { item = "never", qty = 1, total = 1 })
  eq(h.status, "rejected")
  eq(h.reasons, { "qty: is required" })
end)

test("an unknown handoff is an error", function()
  raises(function() run_handoff("nowhere", ORDER) end, "no handoff .*domains/shop/handoffs/nowhere%.lua")
end)

test("the result of a real run hands off", function()
  local h = run_handoff("to_ship", run_agent("quoter", { item = "gadget", qty = 3 }))
  eq(h.input.total, 30.0)
end)
