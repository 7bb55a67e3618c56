-- Passing tests: the mock model, and scripted answers (opts.llm.responses).

test("the mock calls the first tool once, then answers", function()
  local r = run_agent("writer", { topic = "stock" })
  eq(r.provider, "mock")
  match(r.text, "^%[mock%]")
end)

test("scripted answers: a tool call, then the text", function()
  local r = run_agent("writer", { topic = "stock" }, { llm = { responses = {
    { tool_calls = { { name = "stock", arguments = { item = "widget" } } } },
    "We have 7 widgets.",
  } } })
  eq(r.text, "We have 7 widgets.")
  eq(r.provider, "scripted")
end)

test("a table answer is JSON for a json/schema request", function()
  local r = run_agent("writer", { topic = "x", twice = true },
    { llm = { responses = { "first", { verdict = "fine", score = 3 } } } })
  eq(r.text, "first")
  eq(r.second, { verdict = "fine", score = 3 })
end)

test("too few scripted answers is an error naming the call", function()
  raises(function()
    run_agent("writer", { topic = "x", twice = true }, { llm = { responses = { "only one" } } })
  end, "llm.chat call 2 has no answer in opts.llm.responses %(it has 1%)")
end)

test("after a scripted run the mock answers again", function()
  eq(run_agent("writer", { topic = "x" }).provider, "mock")
end)
