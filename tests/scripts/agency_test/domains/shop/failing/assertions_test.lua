-- Failing on purpose (tests/integration/test_agency_test.py checks each FAIL line): one test per kind of
-- failure, and passing tests in between to show that a failure ends only its own test.

test("passes before", function()
  eq(1, 1)
end)

test("nested difference", function()
  eq({ a = { b = { 1, 2, 3 } }, c = "same" }, { a = { b = { 1, 2, 4 } }, c = "same" })
end)

test("missing key", function()
  eq({ x = 1 }, { x = 1, y = "why" }, "the order")
end)

test("long strings", function()
  eq(string.rep("a", 50) .. "XYZ", string.rep("a", 50) .. "XQZ")
end)

test("ok fails", function()
  ok(nil, "the lead has a score")
end)

test("match fails", function()
  match("hello", "^%d+$")
end)

test("raises without an error", function()
  raises(function() return 1 end)
end)

test("passes between", function()
  ok(true)
end)

test("an error in the test itself", function()
  local lead = nil
  return lead.score
end)

test("the agent fails", function()
  local r = run_agent("crash", { depth = 2 })
  return r
end)

test("a structured error", function()
  error({ code = "rate_limited", message = "slow down" })
end)

test("an endless loop", function()
  local n = 0
  while true do n = n + 1 end
end)

test("passes after", function()
  eq(run_agent("shipper", { qty = 3 }), { shipped = 3 })
end)
